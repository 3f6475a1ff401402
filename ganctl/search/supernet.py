"""Supernets for differentiable search (methods §4.1–4.2): every edge is a MixedOp over the op registry.

The cells are the ones the final models use (`ganctl.nn.cells`); only their edges differ. A MixedOp
holds one instance of each candidate op from `make_op` and returns Σ w_i · op_i(x), where the weights
w (softmax or Gumbel-softmax of the edge's logits α) are handed in per forward pass by the supernet.
The 'none' op is never evaluated: its term is zero, and α_none still gets its gradient through the
normalisation of the other weights. α lives in `alphas` (a ParameterDict keyed "cell{i}_{edge}"),
kept apart from the weights so the two optimisers never share a tensor.
The generator mirrors `ganctl.models.CellGenerator` (latent chunks, skip-ins, BN→act→conv→tanh head);
the discriminator mirrors `CellDiscriminator` (3×3 stem, cells, act, global sum, linear, SN everywhere).
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from ganctl.models.init import init_weights
from ganctl.nn.activations import make_activation
from ganctl.nn.cells import DIS_EDGES, GEN_EDGES, DisCell, GenCell
from ganctl.nn.ops import make_op
from ganctl.nn.spectral import spectral_norm
from ganctl.search.temperature import mix_weights

# AdversarialNAS's D: two downsampling cells, then two at constant resolution (32 → 16 → 8 → 8 → 8).
DIS_DOWNSAMPLE = (True, True, False, False)
# The seed paper's search D (Pulakurthi et al., MMD-PMish-NAS): four downsampling cells, no stem; the
# first cell reads the image itself through convs without a pre-activation (32 → 16 → 8 → 4 → 2).
PAPER_DIS_DOWNSAMPLE = (True, True, True, True)
_INPUT_EDGES = ("c0", "c1", "c2")  # DisCell edges that read the cell input x
GEN_CELLS = 3


def edge_key(cell: int, edge: str) -> str:
    return f"cell{cell}_{edge}"


def split_key(key: str) -> tuple[int, str]:
    cell, edge = key.split("_", 1)
    return int(cell[4:]), edge


class MixedOp(nn.Module):
    """Σ w_i · op_i(x) over the candidate ops of one edge; `weights` is set by the owning supernet."""

    def __init__(self, names: tuple[str, ...], c_in: int, c_out: int, *, kind: str, act: str | None):
        super().__init__()
        self.names = tuple(names)
        self.ops = nn.ModuleList(make_op(n, c_in, c_out, kind=kind, act=act) for n in self.names)
        self.live = tuple(i for i, n in enumerate(self.names) if n != "none")
        self.weights: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weights
        if w is None:
            raise RuntimeError("MixedOp called outside its supernet (no mixing weights set)")
        out = None
        for i in self.live:
            h = self.ops[i](x)
            term = h * w[i].to(h.dtype)
            out = term if out is None else out + term
        return out


@contextlib.contextmanager
def frozen(*items: nn.Module | list[nn.Parameter]) -> Iterator[None]:
    """The parameters of these modules / lists need no gradient inside the block (restored after)."""
    params = [p for it in items for p in (it.parameters() if isinstance(it, nn.Module) else it)]
    before = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(params, before, strict=True):
            p.requires_grad_(flag)


class _SuperNet(nn.Module):
    """α bookkeeping shared by the generator and discriminator supernets."""

    alphas: nn.ParameterDict
    op_names: dict[str, tuple[str, ...]]

    def _register_edges(self, edges: dict[str, MixedOp], alpha_std: float) -> None:
        self.op_names = {k: m.names for k, m in edges.items()}
        # plain dict of references (the modules are registered inside the cells)
        self._mixed = dict(edges)
        self.alphas = nn.ParameterDict(
            {k: nn.Parameter(alpha_std * torch.randn(len(m.names))) for k, m in edges.items()})

    def arch_parameters(self) -> list[nn.Parameter]:
        return list(self.alphas.parameters())

    def weight_parameters(self) -> list[nn.Parameter]:
        return [p for n, p in self.named_parameters() if not n.startswith("alphas.")]

    def mix(self, tau: float = 1.0, gumbel: bool = False) -> dict[str, torch.Tensor]:
        return {k: mix_weights(a, tau, gumbel) for k, a in self.alphas.items()}

    def set_mix(self, weights: dict[str, torch.Tensor]) -> None:
        for key, op in self._mixed.items():
            op.weights = weights[key]

    def probabilities(self) -> dict[str, torch.Tensor]:
        """softmax(α) per edge, detached on the CPU (what derivation and the plot use)."""
        return {k: torch.softmax(a.detach().float().cpu(), dim=-1) for k, a in self.alphas.items()}


class SuperGenerator(_SuperNet):
    """z → 3 searchable upsampling cells → image in [-1, 1] (bottom width = resolution / 8)."""

    def __init__(self, resolution: int, width: int, latent_dim: int, up_ops: tuple[str, ...],
                 normal_ops: tuple[str, ...], act: str = "relu", alpha_std: float = 1e-3):
        super().__init__()
        self.resolution, self.width, self.latent_dim = resolution, width, latent_dim
        self.bottom = resolution // 8
        self.chunk = latent_dim // GEN_CELLS
        self.latent_proj = nn.ModuleList(nn.Linear(self.chunk, width * (self.bottom << i) ** 2)
                                         for i in range(GEN_CELLS))
        cells, edges = [], {}
        for i in range(GEN_CELLS):
            cell_edges = {}
            for e in GEN_EDGES:
                kind, names = ("up", up_ops) if e.startswith("up") else ("normal", normal_ops)
                cell_edges[e] = edges[edge_key(i, e)] = MixedOp(names, width, width, kind=kind, act=act)
            skip_mode = "bilinear" if i % 2 else "nearest"  # as CellGenerator
            cells.append(GenCell(cell_edges, width, n_skip_in=i, skip_mode=skip_mode))
        self.cells = nn.ModuleList(cells)
        self.head = nn.Sequential(nn.BatchNorm2d(width), make_activation(act), nn.Conv2d(width, 3, 3, 1, 1),
                                  nn.Tanh())
        init_weights(self)
        self._register_edges(edges, alpha_std)

    def forward(self, z: torch.Tensor, weights: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        self.set_mix(weights if weights is not None else self.mix())
        b = z.shape[0]
        h = None
        skips: list[torch.Tensor] = []
        for i, cell in enumerate(self.cells):
            size = self.bottom << i
            chunk = z[:, i * self.chunk:(i + 1) * self.chunk]
            inject = self.latent_proj[i](chunk).view(b, self.width, size, size)
            h = inject if h is None else h + inject
            skip, h = cell(h, tuple(skips))
            skips.append(skip)
        return self.head(h)


class SuperDiscriminator(_SuperNet):
    """image → stem → 4 searchable cells (two downsampling) → act → global sum → SN linear → (B, out_dim).

    ``stem=False`` (the paper's topology): the first cell's input edges map the 3 image channels to
    ``width`` with convs and no pre-activation; 'skip' cannot change the channel count, so it is not a
    candidate on those three edges.
    """

    def __init__(self, width: int, out_dim: int, normal_ops: tuple[str, ...], down_ops: tuple[str, ...],
                 act: str = "relu", downsample: tuple[bool, ...] = DIS_DOWNSAMPLE, alpha_std: float = 1e-3,
                 stem: bool = True):
        super().__init__()
        self.downsample = tuple(downsample)
        self.stem = nn.Conv2d(3, width, 3, 1, 1) if stem else nn.Identity()
        cells, edges = [], {}
        for i, down in enumerate(self.downsample):
            cell_edges = {}
            for e in DIS_EDGES:
                kind, names = ("down", down_ops) if (e.startswith("d") and down) else ("normal", normal_ops)
                c_in, edge_act = width, act
                if not stem and i == 0 and e in _INPUT_EDGES:
                    c_in, edge_act, names = 3, None, tuple(n for n in names if n != "skip")
                cell_edges[e] = edges[edge_key(i, e)] = MixedOp(names, c_in, width, kind=kind, act=edge_act)
            cells.append(DisCell(cell_edges))
        self.cells = nn.ModuleList(cells)
        self.final_act = make_activation(act)
        self.linear = nn.Linear(width, out_dim, bias=False)
        for m in list(self.modules()):
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                spectral_norm(m, "sn")
        init_weights(self)
        self._register_edges(edges, alpha_std)

    def forward(self, x: torch.Tensor, weights: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        self.set_mix(weights if weights is not None else self.mix())
        h = self.stem(x)
        for cell in self.cells:
            h = cell(h)
        return self.linear(self.final_act(h).sum(dim=(2, 3)))
