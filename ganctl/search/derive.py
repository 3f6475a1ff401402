"""From architecture weights to a genotype: argmax per edge plus connectivity rules (methods §4.2).

Rule: a node whose inputs all chose 'none' would be dead, so among its input edges (whose source
node is alive) take the one whose 'none' probability is weakest and give it its best non-none op.
Generator: node2 ← {c0, c1}, node3 ← {c2, c3, c4}. Discriminator: node1 ← {c1, c3}, node2 ← {c2, c4}
(c3/c4 count only when node0 = c0(x) is alive), output ← {d0, d1}. Probabilities are softmax(α).
"""
from __future__ import annotations

from typing import Any

import torch

from ganctl.genotype import Genotype, parse_genotype
from ganctl.search.supernet import split_key

GEN_NODES = (("c0", "c1"), ("c2", "c3", "c4"))


def _argmax(probs: torch.Tensor, names: tuple[str, ...], exclude_none: bool = False) -> str:
    p = probs.clone()
    if exclude_none and "none" in names:
        p[names.index("none")] = -1.0
    return names[int(torch.argmax(p))]


def _none_prob(probs: torch.Tensor, names: tuple[str, ...]) -> float:
    return float(probs[names.index("none")]) if "none" in names else 0.0


def _connect(cell: dict[str, str], inputs: tuple[str, ...], probs: dict[str, torch.Tensor],
             names: dict[str, tuple[str, ...]]) -> None:
    """If every edge in `inputs` chose 'none', revive the one whose 'none' is weakest."""
    if not inputs or any(cell[e] != "none" for e in inputs):
        return
    weakest = min(inputs, key=lambda e: (_none_prob(probs[e], names[e]), inputs.index(e)))
    cell[weakest] = _argmax(probs[weakest], names[weakest], exclude_none=True)


def derive_generator_cells(probs: list[dict[str, torch.Tensor]],
                           names: list[dict[str, tuple[str, ...]]]) -> list[dict[str, str]]:
    """probs[i][edge]: softmax weights of cell i's edge; names[i][edge]: its candidate op names."""
    cells = []
    for p, n in zip(probs, names, strict=True):
        cell = {e: _argmax(p[e], n[e]) for e in p}
        for inputs in GEN_NODES:
            _connect(cell, inputs, p, n)
        cells.append(cell)
    return cells


def derive_discriminator_cells(probs: list[dict[str, torch.Tensor]], names: list[dict[str, tuple[str, ...]]],
                               downsample: tuple[bool, ...]) -> list[dict[str, Any]]:
    cells: list[dict[str, Any]] = []
    for p, n, down in zip(probs, names, downsample, strict=True):
        cell: dict[str, Any] = {e: _argmax(p[e], n[e]) for e in p}
        node0 = cell["c0"] != "none"
        _connect(cell, ("c1", "c3") if node0 else ("c1",), p, n)
        _connect(cell, ("c2", "c4") if node0 else ("c2",), p, n)
        _connect(cell, ("d0", "d1"), p, n)
        cell["downsample"] = bool(down)
        cells.append(cell)
    return cells


def group_by_cell(flat: dict[str, Any]) -> list[dict[str, Any]]:
    """{"cell0_up0": v, ...} → [{"up0": v, ...}, ...] in cell order."""
    cells: dict[int, dict[str, Any]] = {}
    for key, value in flat.items():
        i, edge = split_key(key)
        cells.setdefault(i, {})[edge] = value
    return [cells[i] for i in sorted(cells)]


def build_genotype(search_space: str, ops: dict[str, list[str]], gen_cells: list[dict[str, str]],
                   dis_cells: list[dict[str, Any]] | None, provenance: dict[str, Any]) -> Genotype:
    """Assemble and validate (through the same parser `ganctl train` uses)."""
    data = {"format": "ganctl.genotype", "version": 1, "search_space": search_space,
            "ops": {k: list(v) for k, v in ops.items()}, "generator": {"cells": gen_cells},
            "discriminator": None if dis_cells is None else {"cells": dis_cells}, "provenance": provenance}
    return parse_genotype(data, "derived genotype")
