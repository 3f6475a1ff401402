"""Discriminators: the AutoGAN-style residual D and a genotype-built cell D (methods §4.1).

Residual D: an optimized first block (conv, act, conv, avg-pool + pooled 1×1 shortcut), then
residual blocks (act, conv, act, conv [, avg-pool] + 1×1 shortcut when shapes change), ReLU,
global SUM pooling, linear → out_dim (no bias). Downsampling blocks: 2 for 32/48 px (as AutoGAN),
3 for 64 px, 4 for 128 px, followed by two blocks at constant resolution.

Cell D: a 3×3 stem conv to ``width`` channels, the genotype's cells, act, global sum, linear.
Every conv and the final linear carry the chosen spectral normalisation (sn/ssn/bsn/bssn/none).
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ganctl.errors import SpecError
from ganctl.genotype import Genotype, parse_genotype
from ganctl.models.init import init_weights, seeded
from ganctl.nn.activations import ACTIVATIONS, make_activation
from ganctl.nn.cells import DIS_EDGES, DisCell
from ganctl.nn.ops import make_op
from ganctl.nn.spectral import NORM_MODES, spectral_norm

DISCRIMINATOR_KINDS = ("resnet", "cell")
DISCRIMINATOR_SPEC_KEYS = (
    "kind",
    "version",
    "width",
    "resolution",
    "out_dim",
    "norm",
    "scale",
    "activation",
    "init_seed",
    "genotype",
)


def discriminator_spec(  # size: one keyword per field of the JSON spec that artifacts store
    kind: str = "resnet",
    width: int = 512,
    resolution: int = 32,
    out_dim: int = 16,
    norm: str = "sn",
    scale: float = 1.0,
    activation: str = "relu",
    init_seed: int = 0,
    genotype: Genotype | dict | None = None,
) -> dict:
    """A JSON-able spec for ``build_discriminator`` (out_dim 16 for MMD, 1 for hinge/ns)."""
    geno = None
    if genotype is not None:
        geno = (genotype if isinstance(genotype, Genotype) else parse_genotype(genotype)).to_dict()
    spec = {
        "kind": kind,
        "version": 1,
        "width": int(width),
        "resolution": int(resolution),
        "out_dim": int(out_dim),
        "norm": norm,
        "scale": float(scale),
        "activation": activation,
        "init_seed": int(init_seed),
        "genotype": geno,
    }
    _validate(spec)
    return spec


def _validate(spec: dict) -> Genotype | None:
    missing = [k for k in DISCRIMINATOR_SPEC_KEYS if k not in spec]
    if missing:
        raise SpecError(f"discriminator spec lacks {', '.join(missing)}")
    if spec["kind"] not in DISCRIMINATOR_KINDS:
        raise SpecError(
            f"unknown discriminator kind {spec['kind']!r} (choose {', '.join(DISCRIMINATOR_KINDS)})"
        )
    if spec["norm"] not in NORM_MODES:
        raise SpecError(f"unknown discriminator norm {spec['norm']!r} (choose {', '.join(NORM_MODES)})")
    if spec["norm"] in ("sn", "bsn", "none") and spec["scale"] != 1.0:
        raise SpecError(f"norm {spec['norm']!r} takes no scale (got {spec['scale']}); use ssn or bssn")
    if spec["activation"] not in ACTIVATIONS:
        raise SpecError(f"unknown activation {spec['activation']!r}")
    res = spec["resolution"]
    if res < 16 or res % 8:
        raise SpecError(f"discriminator resolution {res} must be a multiple of 8, at least 16")
    if spec["width"] < 1 or spec["out_dim"] < 1:
        raise SpecError("discriminator width and out_dim must be positive")
    if spec["kind"] == "cell":
        if spec["genotype"] is None:
            raise SpecError("a cell discriminator needs a genotype with a 'discriminator' section")
        geno = parse_genotype(spec["genotype"], "discriminator spec genotype")
        if geno.discriminator_cells is None:
            raise SpecError("the genotype has no discriminator cells ('discriminator' is null)")
        return geno
    return None


def _n_down(resolution: int) -> int:
    return max(2, round(math.log2(resolution / 8)))


class _OptimizedBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, act: str):
        super().__init__()
        self.c1 = nn.Conv2d(c_in, c_out, 3, 1, 1)
        self.c2 = nn.Conv2d(c_out, c_out, 3, 1, 1)
        self.c_sc = nn.Conv2d(c_in, c_out, 1)
        self.act = make_activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.avg_pool2d(self.c2(self.act(self.c1(x))), 2)
        return h + self.c_sc(F.avg_pool2d(x, 2))


class _ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, act: str, downsample: bool):
        super().__init__()
        self.c1 = nn.Conv2d(c_in, c_out, 3, 1, 1)
        self.c2 = nn.Conv2d(c_out, c_out, 3, 1, 1)
        self.act = make_activation(act)
        self.downsample = downsample
        self.c_sc = nn.Conv2d(c_in, c_out, 1) if (downsample or c_in != c_out) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.c2(self.act(self.c1(self.act(x))))
        sc = self.c_sc(x) if self.c_sc is not None else x
        if self.downsample:
            h, sc = F.avg_pool2d(h, 2), F.avg_pool2d(sc, 2)
        return h + sc


class _Discriminator(nn.Module):
    """Shared tail: act → global sum pooling → linear (no bias) → (B, out_dim)."""

    def _finish(self, spec: dict) -> None:
        self.spec = copy.deepcopy(spec)
        self.out_dim: int = spec["out_dim"]
        self.resolution: int = spec["resolution"]
        self.final_act = make_activation(spec["activation"])
        self.linear = nn.Linear(spec["width"], spec["out_dim"], bias=False)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.final_act(self.features(x)).sum(dim=(2, 3))
        return self.linear(h)


class ResNetDiscriminator(_Discriminator):
    def __init__(self, spec: dict[str, Any]):
        super().__init__()
        w, act = spec["width"], spec["activation"]
        n_down = _n_down(spec["resolution"])
        blocks: list[nn.Module] = [_OptimizedBlock(3, w, act)]
        blocks += [_ResBlock(w, w, act, downsample=True) for _ in range(n_down - 1)]
        blocks += [_ResBlock(w, w, act, downsample=False) for _ in range(2)]
        self.blocks = nn.Sequential(*blocks)
        self._finish(spec)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)


class CellDiscriminator(_Discriminator):
    def __init__(self, spec: dict[str, Any], genotype: Genotype):
        super().__init__()
        w, act = spec["width"], spec["activation"]
        self.stem = nn.Conv2d(3, w, 3, 1, 1)
        cells = []
        for cell in genotype.discriminator_cells or []:
            edges = {}
            for e in DIS_EDGES:
                if cell[e] == "none":
                    edges[e] = None
                    continue
                kind = "down" if (e.startswith("d") and cell["downsample"]) else "normal"
                edges[e] = make_op(cell[e], w, w, kind=kind, act=act)
            cells.append(DisCell(edges))
        self.cells = nn.Sequential(*cells)
        n_down = sum(1 for c in genotype.discriminator_cells or [] if c["downsample"])
        if spec["resolution"] >> n_down < 1 or spec["resolution"] % (1 << n_down):
            raise SpecError(f"{n_down} downsampling cells do not fit resolution {spec['resolution']}")
        self._finish(spec)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.cells(self.stem(x))


def build_discriminator(spec: dict[str, Any]) -> _Discriminator:
    """Build (and seed-initialise) the discriminator a spec describes; ``.spec`` rebuilds it."""
    if not isinstance(spec, dict):
        raise SpecError("discriminator spec must be a JSON object")
    geno = _validate(spec)
    with seeded(spec["init_seed"]):
        module: _Discriminator = (
            ResNetDiscriminator(spec) if spec["kind"] == "resnet" else CellDiscriminator(spec, geno)
        )
        if spec["norm"] != "none":
            for m in list(module.modules()):
                if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                    spectral_norm(m, spec["norm"], spec["scale"])
        init_weights(module)
    return module
