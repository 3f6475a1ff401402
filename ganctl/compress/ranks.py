"""Rank policies: fixed INT, a PLAN.json file, and `auto` (ARD, methods §5) with an optional parameter budget.

ARD: each chosen layer alone is decomposed at each candidate rank (the rest of G untouched) and G is
scored by a cheap quality proxy (lower is better, e.g. a proxy FID on fixed noise against cached
reference statistics). score(layer, R) = (1 + PF·(1 − CR))·quality, CR = fraction of the layer's
parameters removed; "nc" (leave uncompressed, CR = 0) is always a candidate; the minimum wins.

Budget (`target_params=F`): start from everything uncompressed and repeatedly take the single move
(one layer to a smaller candidate) with the least proxy-quality increase per parameter saved, until
the whole generator has ≤ F × its original parameters. Quality increases are taken against the layer's
current choice and clipped at a small positive floor, so free improvements are taken first.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from ganctl.compress.decompose import (
    DecompositionError,
    decompose_layer,
    dense_params,
    factorised_params,
    normalise_rank,
    parity_rank,
    resolve_method,
)
from ganctl.compress.plan import plan_entry
from ganctl.errors import GanctlError, InputFileError, UsageError
from ganctl.io.safeio import read_json
from ganctl.nn.factorised import Factorised, layer_type

DEFAULT_FRACTIONS = (0.0625, 0.125, 0.25, 0.5, 0.75)
NC = "nc"


@dataclass
class Candidate:
    rank: int | list[int] | str  # "nc" = leave uncompressed
    params: int
    quality: float
    score: float = 0.0
    rel_error: float = 0.0


@dataclass
class ProbeCost:
    """What ARD spent: probes scored, and seconds fitting factors vs scoring the proxy."""

    probes: int = 0
    fit_s: float = 0.0
    score_s: float = 0.0
    device: str = "cpu"

    def record(self) -> dict[str, Any]:
        return {"probes": self.probes, "fit_s": round(self.fit_s, 3), "score_s": round(self.score_s, 3),
                "device": self.device}


@dataclass
class LayerSearch:
    name: str
    dense_params: int
    candidates: list[Candidate] = field(default_factory=list)
    chosen: Candidate | None = None


def fixed_plan(layers: dict[str, nn.Module], method: str, rank: int) -> list[dict[str, Any]]:
    """The same rank for every chosen layer; a rank a layer cannot take is an error naming the layer."""
    return [plan_entry(n, m, method, normalise_rank(m, method, rank, n)) for n, m in layers.items()]


def load_plan_file(path: str | Path, layers: dict[str, nn.Module], method: str) -> list[dict[str, Any]]:
    """PLAN.json: a list of {"layer", "rank"[, "method"]} or an object {layer: rank | {"rank", "method"}}."""
    path = Path(path)
    raw = read_json(path, what="plan")
    if isinstance(raw, dict):
        raw = [{"layer": k, **(v if isinstance(v, dict) else {"rank": v})} for k, v in raw.items()]
    if not isinstance(raw, list) or not raw:
        raise InputFileError(
            'plan must be a non-empty list of {"layer", "rank"} entries or a {layer: rank} object', path
        )
    plan = []
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict) or "layer" not in entry or "rank" not in entry:
            raise InputFileError(f'entry {i} must have "layer" and "rank"', path)
        name, rank = entry["layer"], entry["rank"]
        if not isinstance(name, str) or name not in layers:
            raise InputFileError(
                f"entry {i}: {name!r} is not a decomposable layer of this generator "
                f"(or not selected by --layers)",
                path,
            )
        if isinstance(rank, bool) or not (
            isinstance(rank, int)
            or (isinstance(rank, list) and len(rank) == 2 and all(isinstance(r, int) for r in rank))
        ):
            raise InputFileError(
                f"entry {i} ({name}): rank must be an integer or [R_out, R_in], got {rank!r}", path
            )
        layer_method = entry.get("method", method)
        try:
            rank = normalise_rank(layers[name], layer_method, rank, name)
        except GanctlError as e:
            raise InputFileError(f"entry {i}: {e}", path) from e
        if any(e["layer"] == name for e in plan):
            raise InputFileError(f"entry {i}: layer {name!r} appears twice", path)
        plan.append(plan_entry(name, layers[name], layer_method, rank))
    return plan


def candidate_ranks(
    layer: nn.Module, method: str, fractions: tuple[float, ...] = DEFAULT_FRACTIONS
) -> list[int]:
    """Ranks at fixed fractions of the break-even rank (the largest rank that still saves parameters)."""
    top = parity_rank(layer, method)
    return sorted({max(1, round(f * top)) for f in fractions}) if top >= 1 else []


def _score(quality: float, params: int, dense: int, penalty: float) -> float:
    removed = 1.0 - params / dense
    return (1.0 + penalty * (1.0 - removed)) * quality


def ard_search(  # size: keyword-only probe knobs with defaults; the probe loop reads best whole
    model: nn.Module,
    layers: dict[str, nn.Module],
    method: str,
    quality: Callable[[nn.Module], float],
    *,
    penalty: float = 0.1,
    fractions: tuple[float, ...] = DEFAULT_FRACTIONS,
    n_iter: int = 50,
    progress: Callable[[str, int, int], None] | None = None,
    cost: ProbeCost | None = None,
) -> tuple[list[LayerSearch], float, dict[tuple[str, str], Factorised]]:
    """Probe every (layer, candidate rank) alone. Returns the per-layer results, the baseline quality and
    the fitted modules (so the final decomposition reuses them instead of fitting again).

    Fits run on the model's device; a layer's CP fits go up its candidate ranks, each starting from the
    previous one's factors. `cost`, when given, is filled with the probe count and the time spent."""
    cost = cost if cost is not None else ProbeCost()
    device = next(model.parameters()).device
    cost.device = str(device)
    tick = time.perf_counter()
    baseline = quality(model)
    cost.score_s += time.perf_counter() - tick
    fits: dict[tuple[str, str], Factorised] = {}
    results = []
    total = sum(len(candidate_ranks(m, method, fractions)) for m in layers.values())
    done = 0
    for name, layer in layers.items():
        dense = dense_params(layer)
        search = LayerSearch(
            name, dense, [Candidate(NC, dense, baseline, _score(baseline, dense, dense, penalty))]
        )
        warm = None
        for rank in candidate_ranks(layer, method, fractions):
            done += 1
            if progress:
                progress(name, done, total)
            tick = time.perf_counter()
            try:
                fit = decompose_layer(layer, method, rank, n_iter=n_iter, name=name, device=device, warm=warm)
            except DecompositionError:
                continue
            finally:
                cost.fit_s += time.perf_counter() - tick
            warm = fit
            model.set_submodule(name, fit.module)
            tick = time.perf_counter()
            try:
                q = float(quality(model))
            finally:
                model.set_submodule(name, layer)
                cost.score_s += time.perf_counter() - tick
                cost.probes += 1
            params = factorised_params(layer, method, fit.rank)
            fits[(name, json.dumps(fit.rank))] = fit.module
            search.candidates.append(
                Candidate(fit.rank, params, q, _score(q, params, dense, penalty), fit.rel_error)
            )
        search.chosen = min(search.candidates, key=lambda c: c.score)
        results.append(search)
    return results, baseline, fits


def budget_choice(results: list[LayerSearch], total_params: int, target: float) -> None:
    """Re-choose candidates so G has ≤ target × total_params parameters (greedy; see the module doc)."""
    if not 0 < target <= 1:
        raise UsageError(f"--target-params {target}: expected a fraction in (0, 1]")
    budget = target * total_params
    current = {r.name: next(c for c in r.candidates if c.rank == NC) for r in results}
    size = total_params
    floor = 1e-9
    while size > budget:
        best: tuple[float, LayerSearch, Candidate] | None = None
        for r in results:
            cur = current[r.name]
            for c in r.candidates:
                saved = cur.params - c.params
                if saved <= 0:
                    continue
                cost = max(c.quality - cur.quality, floor) / saved
                if best is None or cost < best[0]:
                    best = (cost, r, c)
        if best is None:
            smallest = total_params - sum(
                r.dense_params - min(c.params for c in r.candidates) for r in results
            )
            raise UsageError(
                f"--target-params {target}: the candidate ranks reach at most "
                f"{smallest / total_params:.3f} of the parameters (add --layers or lower ranks)"
            )
        _, r, c = best
        size -= current[r.name].params - c.params
        current[r.name] = c
    for r in results:
        r.chosen = current[r.name]


def plan_from_search(
    results: list[LayerSearch], layers: dict[str, nn.Module], method: str
) -> list[dict[str, Any]]:
    return [
        plan_entry(r.name, layers[r.name], method, r.chosen.rank)
        for r in results
        if r.chosen is not None and r.chosen.rank != NC
    ]


def cached_fit(
    fits: dict[tuple[str, str], Factorised], name: str, rank: int | list[int]
) -> Factorised | None:
    module = fits.get((name, json.dumps(rank)))
    return copy.deepcopy(module) if module is not None else None


def describe(layer: nn.Module, method: str) -> str:
    return f"{layer_type(layer)}/{resolve_method(layer, method)}"
