"""Decomposition plans: a list of {"layer", "type", "method", "rank"} entries saved in the artifact spec.

`apply_plan` (ganctl.models.plan) replays a plan on a freshly built model (shapes only, weights load afterwards);
`decompose_model` fits the factors of a trained model and returns the plan it really used.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from typing import Any

from torch import nn

from ganctl.compress.decompose import decompose_layer
from ganctl.errors import UsageError
from ganctl.models.plan import PLAN_KEYS, apply_plan, lookup_layer, validate_plan  # noqa: F401 - replaying a plan is model building
from ganctl.nn.factorised import Factorised, layer_type, resolve_method


def decomposable_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Every Conv2d / ConvTranspose2d / Linear (groups=1) by dotted name, skipping factorised pieces."""
    inside: list[str] = [n for n, m in model.named_modules() if isinstance(m, Factorised)]
    found: dict[str, nn.Module] = {}
    for name, module in model.named_modules():
        if not name or any(name.startswith(p + ".") for p in inside) or ".parametrizations." in name:
            continue
        if layer_type(module) is not None and getattr(module, "groups", 1) == 1:
            found[name] = module
    return found


def select_layers(model: nn.Module, globs: Iterable[str] | None) -> dict[str, nn.Module]:
    """Layers matching any glob (all without globs); a glob matching nothing is an error."""
    layers = decomposable_layers(model)
    globs = list(globs or [])
    if not globs:
        return layers
    chosen: dict[str, nn.Module] = {}
    for glob in globs:
        hits = {n: m for n, m in layers.items() if fnmatch.fnmatchcase(n, glob)}
        if not hits:
            sample = ", ".join(list(layers)[:4])
            raise UsageError(
                f"--layers {glob!r} matches no decomposable layer (names look like: {sample}, ...)"
            )
        chosen.update(hits)
    return {n: layers[n] for n in layers if n in chosen}


def plan_entry(name: str, layer: nn.Module, method: str, rank: int | list[int]) -> dict[str, Any]:
    return {"layer": name, "type": layer_type(layer), "method": resolve_method(layer, method), "rank": rank}


def decompose_model(
    model: nn.Module,
    plan: list[dict[str, Any]],
    *,
    n_iter: int = 100,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Fit every planned layer (in place). Returns the plan used (ranks may drop on retry), fit notes."""
    used, notes = [], []
    for entry in validate_plan(plan):
        layer = lookup_layer(model, entry)
        fit = decompose_layer(layer, entry["method"], entry["rank"], n_iter=n_iter, name=entry["layer"])
        model.set_submodule(entry["layer"], fit.module)
        used.append({**entry, "method": fit.method, "rank": fit.rank})
        notes.append({"layer": entry["layer"], "rel_error": fit.rel_error, "retries": fit.retries})
    return used, notes
