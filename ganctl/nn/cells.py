"""AdversarialNAS cells (methods §4.1), built from already-made edge modules.

Generator cell: node0 = up0(x), node1 = up1(x); node2 = c0(node0) + c1(node1) + skip-ins;
node3 = c2(node0) + c3(node1) + c4(node2). Returns (skip output, node3), where the skip output
handed to later cells is node2 *after* its own skip-in terms were added, as in the seed paper's
public code (Pulakurthi et al., MMD-PMish-NAS; the stored node2 tensor is updated in place there),
so a published checkpoint reproduces its images exactly.
A ``None`` edge is a 'none' op: it contributes nothing and has no module.

Discriminator cell: node0 = c0(x); node1 = c1(x) + c3(node0); node2 = c2(x) + c4(node0);
out = d0(node1) + d1(node2) (d0/d1 are down ops in a downsampling cell, normal ops otherwise).

Edges are passed in as modules so the search stage can hand in mixed ops instead.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

GEN_EDGES = ("up0", "up1", "c0", "c1", "c2", "c3", "c4")
DIS_EDGES = ("c0", "c1", "c2", "c3", "c4", "d0", "d1")


def _sum(terms: list[torch.Tensor]) -> torch.Tensor | None:
    if not terms:
        return None
    out = terms[0]
    for t in terms[1:]:
        out = out + t
    return out


class GenCell(nn.Module):
    """Generator cell with ``n_skip_in`` cross-cell inputs (earlier cells' node2, resized + 1×1 conv)."""

    def __init__(
        self, edges: dict[str, nn.Module | None], width: int, n_skip_in: int = 0, skip_mode: str = "nearest"
    ):
        super().__init__()
        for name in GEN_EDGES:
            edge = edges.get(name)
            if edge is not None:
                self.add_module(name, edge)
        self.edge_names = tuple(n for n in GEN_EDGES if edges.get(n) is not None)
        self.skip_mode = skip_mode
        self.skip_in = nn.ModuleList(nn.Conv2d(width, width, 1) for _ in range(n_skip_in))

    def _edge(self, name: str, x: torch.Tensor | None) -> list[torch.Tensor]:
        if x is None or name not in self.edge_names:
            return []
        return [getattr(self, name)(x)]

    def forward(
        self, x: torch.Tensor, skips: tuple[torch.Tensor, ...] = ()
    ) -> tuple[torch.Tensor, torch.Tensor]:
        node0 = _sum(self._edge("up0", x))
        node1 = _sum(self._edge("up1", x))
        node2 = _sum(self._edge("c0", node0) + self._edge("c1", node1))
        if len(self.skip_in):
            size = (node0 if node0 is not None else node1).shape[-2:]
            extra = [
                conv(F.interpolate(s, size=size, mode=self.skip_mode))
                for s, conv in zip(skips, self.skip_in, strict=True)
            ]
            node2 = _sum(([node2] if node2 is not None else []) + extra)
        skip_out = node2
        node3 = _sum(self._edge("c2", node0) + self._edge("c3", node1) + self._edge("c4", node2))
        if skip_out is None or node3 is None:
            raise RuntimeError("cell has a node without inputs; validate the genotype before building")
        return skip_out, node3


class DisCell(nn.Module):
    """Discriminator cell; halves the resolution when its d-edges are down ops."""

    def __init__(self, edges: dict[str, nn.Module | None]):
        super().__init__()
        for name in DIS_EDGES:
            edge = edges.get(name)
            if edge is not None:
                self.add_module(name, edge)
        self.edge_names = tuple(n for n in DIS_EDGES if edges.get(n) is not None)

    def _edge(self, name: str, x: torch.Tensor | None) -> list[torch.Tensor]:
        if x is None or name not in self.edge_names:
            return []
        return [getattr(self, name)(x)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        node0 = _sum(self._edge("c0", x))
        node1 = _sum(self._edge("c1", x) + self._edge("c3", node0))
        node2 = _sum(self._edge("c2", x) + self._edge("c4", node0))
        out = _sum(self._edge("d0", node1) + self._edge("d1", node2))
        if out is None:
            raise RuntimeError("discriminator cell has no path to its output; validate the genotype")
        return out
