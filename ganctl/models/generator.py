"""Genotype-built generator (methods §4.1): latent chunks → linear maps → 3 upsampling cells → head.

z (B, latent_dim) is split into ``latent_chunks`` equal chunks. Chunk 0 is mapped by a linear
layer to a width × b × b map (b = bottom width = resolution / 8); chunk i ≥ 1 is mapped to
width × (b·2^i)² and added to the input of cell i. Each cell upsamples ×2; cell i receives the
skip outputs (node2) of all earlier cells. Head: BN → act → conv3×3 → tanh.

Resolutions: 32 (b=4, 3 chunks, CIFAR), 48 (b=6, 2 chunks, STL-10), 64 (b=8, 2 chunks, CelebA);
our choices, which the public code does not have: 16 (b=2, 3 chunks, 2→4→8→16, fast CPU demos) and
128 (b=16, 2 chunks; the same three cells, so 16→32→64→128). Skip-ins are resized with 'nearest' in even
cells, as in the public code.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from ganctl.errors import SpecError
from ganctl.genotype import Genotype, parse_genotype
from ganctl.models.init import init_weights, seeded
from ganctl.nn.activations import ACTIVATIONS, make_activation
from ganctl.nn.cells import GEN_EDGES, GenCell
from ganctl.nn.ops import make_op

SUPPORTED_RESOLUTIONS = {16: 2, 32: 4, 48: 6, 64: 8, 128: 16}
DEFAULT_LATENT_CHUNKS = {16: 3, 32: 3, 48: 2, 64: 2, 128: 2}
GENERATOR_SPEC_KEYS = (
    "kind",
    "version",
    "resolution",
    "bottom_width",
    "width",
    "latent_dim",
    "latent_chunks",
    "activation",
    "init_seed",
    "output_range",
    "genotype",
)


def generator_spec(
    genotype: Genotype | dict,
    resolution: int = 32,
    width: int = 256,
    latent_dim: int = 120,
    activation: str = "pmish",
    latent_chunks: int | None = None,
    init_seed: int = 0,
) -> dict:
    """A JSON-able spec that ``build_generator`` turns into a module (validated here)."""
    if resolution not in SUPPORTED_RESOLUTIONS:
        raise SpecError(
            f"generator resolution {resolution} is not supported "
            f"(choose {', '.join(map(str, SUPPORTED_RESOLUTIONS))})"
        )
    geno = genotype if isinstance(genotype, Genotype) else parse_genotype(genotype)
    spec = {
        "kind": "cell",
        "version": 1,
        "resolution": int(resolution),
        "bottom_width": SUPPORTED_RESOLUTIONS[resolution],
        "width": int(width),
        "latent_dim": int(latent_dim),
        "latent_chunks": int(
            latent_chunks if latent_chunks is not None else DEFAULT_LATENT_CHUNKS[resolution]
        ),
        "activation": activation,
        "init_seed": int(init_seed),
        "output_range": [-1.0, 1.0],
        "genotype": geno.to_dict(),
    }
    _validate(spec)
    return spec


def _validate(spec: dict) -> Genotype:
    missing = [k for k in GENERATOR_SPEC_KEYS if k not in spec]
    if missing:
        raise SpecError(f"generator spec lacks {', '.join(missing)}")
    if spec["kind"] != "cell":
        raise SpecError(f"unknown generator kind {spec['kind']!r} (this ganctl builds 'cell')")
    res = spec["resolution"]
    if SUPPORTED_RESOLUTIONS.get(res) != spec["bottom_width"]:
        raise SpecError(
            f"generator resolution {res} with bottom width {spec['bottom_width']} is not supported "
            f"(pairs: {', '.join(f'{r}/{b}' for r, b in SUPPORTED_RESOLUTIONS.items())})"
        )
    if spec["activation"] not in ACTIVATIONS:
        raise SpecError(f"unknown activation {spec['activation']!r} (choose {', '.join(ACTIVATIONS)})")
    if spec["width"] < 1 or spec["latent_dim"] < 1:
        raise SpecError("generator width and latent_dim must be positive")
    geno = parse_genotype(spec["genotype"], "generator spec genotype")
    n_cells = len(geno.generator_cells)
    if (SUPPORTED_RESOLUTIONS[res] << n_cells) != res:
        raise SpecError(
            f"genotype has {n_cells} generator cells, but {res} px from bottom width "
            f"{SUPPORTED_RESOLUTIONS[res]} needs 3 (each cell upsamples ×2)"
        )
    chunks = spec["latent_chunks"]
    if not 1 <= chunks <= n_cells or spec["latent_dim"] % chunks:
        raise SpecError(
            f"latent_chunks {chunks} must be between 1 and {n_cells} and divide latent_dim "
            f"{spec['latent_dim']}"
        )
    return geno


class CellGenerator(nn.Module):
    """Generator built from a spec; ``.spec`` rebuilds an identical module."""

    def __init__(self, spec: dict[str, Any]):
        super().__init__()
        geno = _validate(spec)
        self.spec = copy.deepcopy(spec)
        self.latent_dim: int = spec["latent_dim"]
        self.resolution: int = spec["resolution"]
        width, bottom, act = spec["width"], spec["bottom_width"], spec["activation"]
        self.width, self.bottom_width = width, bottom
        self.chunk = spec["latent_dim"] // spec["latent_chunks"]
        self.latent_proj = nn.ModuleList(
            nn.Linear(self.chunk, width * (bottom << i) ** 2) for i in range(spec["latent_chunks"])
        )
        cells = []
        for i, cell in enumerate(geno.generator_cells):
            edges = {
                e: None
                if cell[e] == "none"
                else make_op(cell[e], width, width, kind="up" if e.startswith("up") else "normal", act=act)
                for e in GEN_EDGES
            }
            cells.append(GenCell(edges, width, n_skip_in=i, skip_mode="bilinear" if i % 2 else "nearest"))
        self.cells = nn.ModuleList(cells)
        self.head = nn.Sequential(
            nn.BatchNorm2d(width), make_activation(act), nn.Conv2d(width, 3, 3, 1, 1), nn.Tanh()
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        b = z.shape[0]
        h = None
        skips: list[torch.Tensor] = []
        for i, cell in enumerate(self.cells):
            size = self.bottom_width << i
            if i < len(self.latent_proj):
                inject = self.latent_proj[i](z[:, i * self.chunk : (i + 1) * self.chunk]).view(
                    b, self.width, size, size
                )
                h = inject if h is None else h + inject
            skip, h = cell(h, tuple(skips))
            skips.append(skip)
        return self.head(h)


def build_generator(spec: dict[str, Any]) -> CellGenerator:
    """Build (and seed-initialise) the generator a spec describes.

    Extra keys (e.g. 'decomposition', applied by the artifact loader) are kept in ``.spec``.
    """
    if not isinstance(spec, dict):
        raise SpecError("generator spec must be a JSON object")
    with seeded(spec.get("init_seed", 0)):
        module = CellGenerator(spec)
        init_weights(module)
    return module
