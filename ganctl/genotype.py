"""The genotype file format: cell architectures with ops by NAME and the op lists stored alongside.

    {"format": "ganctl.genotype", "version": 1, "search_space": "adversarialnas" | "alphagan",
     "ops": {"up": [...], "normal": [...], "down": [...]},
     "generator": {"cells": [{"up0": op, "up1": op, "c0": op, ..., "c4": op}, ...]},
     "discriminator": null | {"cells": [{"c0".."c4": op, "d0": op, "d1": op, "downsample": bool}, ...]},
     "provenance": {...}}

Index matrices of the public AdversarialNAS-family code are only meaningful together with
the op lists they index (the codebases disagree), so ``import_index_matrix`` demands them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganctl.errors import InputFileError, SpecError
from ganctl.io.atomic import atomic_write_json
from ganctl.io.safeio import read_json
from ganctl.nn.cells import DIS_EDGES, GEN_EDGES
from ganctl.nn.ops import KNOWN_OPS, SEARCH_SPACES, canonical_op

FORMAT = "ganctl.genotype"
VERSION = 1
BUILTIN_DIR = Path(__file__).resolve().parent / "genotypes"


@dataclass
class Genotype:
    """A validated genotype. ``generator_cells``/``discriminator_cells`` map edge name -> op name."""

    search_space: str
    ops: dict[str, list[str]]
    generator_cells: list[dict[str, str]]
    discriminator_cells: list[dict[str, Any]] | None = None
    provenance: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "search_space": self.search_space,
            "ops": {k: list(v) for k, v in self.ops.items()},
            "generator": {"cells": [dict(c) for c in self.generator_cells]},
            "discriminator": (
                None
                if self.discriminator_cells is None
                else {"cells": [dict(c) for c in self.discriminator_cells]}
            ),
            "provenance": dict(self.provenance),
        }

    @classmethod
    def from_dict(cls, data: Any, source: str = "genotype") -> Genotype:
        return parse_genotype(data, source)


def _check_ops(ops: Any, space: str, where: str) -> dict[str, list[str]]:
    if not isinstance(ops, dict) or "up" not in ops or "normal" not in ops:
        raise SpecError(f"{where}: 'ops' must list the 'up' and 'normal' op names (and optionally 'down')")
    out: dict[str, list[str]] = {}
    for kind, names in ops.items():
        if kind not in KNOWN_OPS:
            raise SpecError(f"{where}: unknown op kind {kind!r} in 'ops' (expected up, normal, down)")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise SpecError(f"{where}: ops.{kind} must be a list of op names")
        for n in names:
            if n not in KNOWN_OPS[kind]:
                raise SpecError(f"{where}: unknown {kind} op {n!r} in ops.{kind}")
        out[kind] = list(names)
    out.setdefault("down", list(SEARCH_SPACES[space]["down"]))
    return out


def _check_gen_cell(cell: Any, i: int, ops: dict[str, list[str]], where: str) -> dict[str, str]:
    if not isinstance(cell, dict) or set(cell) != set(GEN_EDGES):
        raise SpecError(f"{where}: generator cell {i} must have exactly the edges {', '.join(GEN_EDGES)}")
    for edge in GEN_EDGES:
        kind = "up" if edge.startswith("up") else "normal"
        if not isinstance(cell[edge], str) or cell[edge] not in ops[kind]:
            raise SpecError(
                f"{where}: generator cell {i} edge {edge}: unknown op {cell[edge]!r} "
                f"(not in ops.{kind}: {', '.join(ops[kind])})"
            )
    if cell["c0"] == "none" and cell["c1"] == "none":
        raise SpecError(
            f"{where}: generator cell {i} does not connect: node2 has only 'none' inputs (c0, c1)"
        )
    if cell["c2"] == "none" and cell["c3"] == "none" and cell["c4"] == "none":
        raise SpecError(
            f"{where}: generator cell {i} does not connect: node3 has only 'none' inputs (c2, c3, c4)"
        )
    return dict(cell)


def _check_dis_cell(cell: Any, i: int, ops: dict[str, list[str]], where: str) -> dict[str, Any]:
    if not isinstance(cell, dict) or set(cell) != set(DIS_EDGES) | {"downsample"}:
        raise SpecError(
            f"{where}: discriminator cell {i} must have the edges {', '.join(DIS_EDGES)} "
            "and a boolean 'downsample'"
        )
    down = cell["downsample"]
    if not isinstance(down, bool):
        raise SpecError(f"{where}: discriminator cell {i}: 'downsample' must be true or false")
    for edge in DIS_EDGES:
        kind = "down" if (edge.startswith("d") and down) else "normal"
        if not isinstance(cell[edge], str) or cell[edge] not in ops[kind]:
            raise SpecError(
                f"{where}: discriminator cell {i} edge {edge}: unknown op {cell[edge]!r} (not in ops.{kind})"
            )
    live = {e: cell[e] != "none" for e in DIS_EDGES}
    node0 = live["c0"]
    node1 = live["c1"] or (live["c3"] and node0)
    node2 = live["c2"] or (live["c4"] and node0)
    if not ((live["d0"] and node1) or (live["d1"] and node2)):
        raise SpecError(f"{where}: discriminator cell {i} does not connect: no path from input to output")
    return dict(cell)


def parse_genotype(data: Any, source: str = "genotype") -> Genotype:
    """Validate a genotype dict (as read from JSON) and return a Genotype."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputFileError(f'not a ganctl genotype (expected "format": "{FORMAT}")', source)
    if type(data.get("version")) is not int or data["version"] != VERSION:
        raise InputFileError(
            f"unsupported genotype version {data.get('version')!r} (this ganctl reads {VERSION})", source
        )
    space = data.get("search_space")
    if not isinstance(space, str) or space not in SEARCH_SPACES:
        raise SpecError(f"{source}: unknown search_space {space!r} (choose {', '.join(SEARCH_SPACES)})")
    ops = _check_ops(data.get("ops"), space, source)
    gen = data.get("generator")
    if not isinstance(gen, dict) or not isinstance(gen.get("cells"), list) or not gen["cells"]:
        raise SpecError(f"{source}: 'generator' must hold a non-empty list of 'cells'")
    gen_cells = [_check_gen_cell(c, i, ops, source) for i, c in enumerate(gen["cells"])]
    dis = data.get("discriminator")
    dis_cells = None
    if dis is not None:
        if not isinstance(dis, dict) or not isinstance(dis.get("cells"), list) or not dis["cells"]:
            raise SpecError(f"{source}: 'discriminator' must be null or hold a non-empty list of 'cells'")
        dis_cells = [_check_dis_cell(c, i, ops, source) for i, c in enumerate(dis["cells"])]
    prov = data.get("provenance") or {}
    if not isinstance(prov, dict):
        raise SpecError(f"{source}: 'provenance' must be an object")
    return Genotype(space, ops, gen_cells, dis_cells, dict(prov))


def builtin_names() -> list[str]:
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.json"))


def builtin_genotypes() -> dict[str, Genotype]:
    """All genotypes shipped with the package, by name."""
    return {name: _read(BUILTIN_DIR / f"{name}.json") for name in builtin_names()}


MAX_GENOTYPE_BYTES = 1 << 20  # a genotype is a few KB; it travels inside every artifact's header


def _read(path: Path) -> Genotype:
    return parse_genotype(read_json(path, what="genotype", max_bytes=MAX_GENOTYPE_BYTES), str(path))


def load_genotype(path_or_name: str | Path) -> Genotype:
    """Load a genotype from a JSON file, or a built-in one by name (e.g. 'mmd-adversarialnas-cifar10')."""
    text = str(path_or_name)
    builtin = BUILTIN_DIR / f"{text}.json"
    if (
        not isinstance(path_or_name, Path)
        and "/" not in text
        and not text.endswith(".json")
        and builtin.exists()
    ):
        return _read(builtin)
    path = Path(path_or_name)
    if not path.exists():
        raise InputFileError(
            f"no such genotype file, and not a built-in genotype ({', '.join(builtin_names())})", path
        )
    return _read(path)


def save_genotype(path: str | Path, genotype: Genotype) -> None:
    atomic_write_json(path, genotype.to_dict())


def import_index_matrix(
    matrix: Sequence[Sequence[int]],
    *,
    up_ops: Sequence[str],
    normal_ops: Sequence[str],
    search_space: str = "adversarialnas",
    provenance: dict[str, Any] | None = None,
) -> Genotype:
    """Turn the public code's (n_cells × 7) index matrix [up0, up1, c0..c4] into a named genotype.

    ``up_ops``/``normal_ops`` are the op lists the matrix indexes, in the public code's order
    (public names such as 'skip_connect' or 'ConvTranspose' are accepted and renamed).
    """
    if search_space not in SEARCH_SPACES:
        raise SpecError(f"unknown search_space {search_space!r}")
    lists = {"up": [canonical_op(n) for n in up_ops], "normal": [canonical_op(n) for n in normal_ops]}
    for kind, names in lists.items():
        for n in names:
            if n not in KNOWN_OPS[kind]:
                raise SpecError(f"index matrix: {kind}_ops names unknown op {n!r}")
    cells = []
    for i, row in enumerate(matrix):
        row = [int(v) for v in row]
        if len(row) != len(GEN_EDGES):
            raise SpecError(f"index matrix row {i} has {len(row)} entries; expected 7 (up0, up1, c0..c4)")
        cell = {}
        for edge, idx in zip(GEN_EDGES, row, strict=True):
            kind = "up" if edge.startswith("up") else "normal"
            if not 0 <= idx < len(lists[kind]):
                raise SpecError(
                    f"index matrix row {i} edge {edge}: index {idx} is outside the "
                    f"{len(lists[kind])} {kind} ops given; is the op list the one the matrix used?"
                )
            cell[edge] = lists[kind][idx]
        cells.append(cell)
    space_ops = SEARCH_SPACES[search_space]
    ops = {
        "up": list(dict.fromkeys(list(space_ops["up"]) + lists["up"])),
        "normal": list(dict.fromkeys(list(space_ops["normal"]) + lists["normal"])),
        "down": list(space_ops["down"]),
    }
    prov = {
        "imported_from": "index-matrix",
        "matrix": [[int(v) for v in r] for r in matrix],
        "up_ops": list(up_ops),
        "normal_ops": list(normal_ops),
        **(provenance or {}),
    }
    data = {
        "format": FORMAT,
        "version": VERSION,
        "search_space": search_space,
        "ops": ops,
        "generator": {"cells": cells},
        "discriminator": None,
        "provenance": prov,
    }
    return parse_genotype(data, "index matrix")
