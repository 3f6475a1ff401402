"""Decomposition plans: a list of {"layer", "type", "method", "rank"} entries saved in the artifact spec.

`apply_plan` replays a plan on a freshly built model (shapes only, weights load afterwards);
`decompose_model` fits the factors of a trained model and returns the plan it really used.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from typing import Any

from torch import nn

from ganctl.compress.decompose import build_factorised, decompose_layer, resolve_method
from ganctl.errors import SpecError, UsageError
from ganctl.nn.factorised import Factorised, layer_type

PLAN_KEYS = ("layer", "type", "method", "rank")


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


def validate_plan(plan: Any, source: str = "plan") -> list[dict[str, Any]]:
    """Check the structure of a plan (not yet against a model)."""
    if not isinstance(plan, list):
        raise SpecError(f"{source}: decomposition plan must be a list of entries")
    seen: set[str] = set()
    for i, entry in enumerate(plan):
        if not isinstance(entry, dict) or any(k not in entry for k in PLAN_KEYS):
            raise SpecError(f"{source}: entry {i} must be an object with keys {', '.join(PLAN_KEYS)}")
        if not isinstance(entry["layer"], str):
            raise SpecError(f"{source}: entry {i}: layer must be a module name, got {entry['layer']!r}")
        rank = entry["rank"]
        ok = (
            isinstance(rank, int)
            and not isinstance(rank, bool)
            or (isinstance(rank, list) and len(rank) == 2 and all(isinstance(r, int) for r in rank))
        )
        if not ok:
            raise SpecError(
                f"{source}: entry {i} ({entry['layer']}): rank must be an integer or [R_out, R_in]"
            )
        if entry["method"] not in ("cp", "tucker", "svd"):
            raise SpecError(f"{source}: entry {i} ({entry['layer']}): unknown method {entry['method']!r}")
        if entry["layer"] in seen:
            raise SpecError(f"{source}: layer {entry['layer']!r} appears twice")
        seen.add(entry["layer"])
    return plan


def _lookup(model: nn.Module, entry: dict[str, Any]) -> nn.Module:
    try:
        layer = model.get_submodule(entry["layer"])
    except AttributeError:
        raise SpecError(
            f"decomposition plan names layer {entry['layer']!r}, which the model does not have"
        ) from None
    kind = layer_type(layer)
    if kind != entry["type"]:
        raise SpecError(
            f"decomposition plan says {entry['layer']!r} is {entry['type']}, the model has "
            f"{kind or type(layer).__name__}"
        )
    return layer


def apply_plan(model: nn.Module, plan: list[dict[str, Any]]) -> nn.Module:
    """Swap in factorised modules of the planned shapes (in place); the caller loads the weights."""
    for entry in validate_plan(plan):
        layer = _lookup(model, entry)
        module = build_factorised(layer, entry["method"], entry["rank"])
        if module.method != entry["method"]:
            raise SpecError(f"decomposition plan: {entry['layer']!r} cannot use method {entry['method']!r}")
        p = next(layer.parameters())
        model.set_submodule(entry["layer"], module.to(device=p.device, dtype=p.dtype))
    return model


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
        layer = _lookup(model, entry)
        fit = decompose_layer(layer, entry["method"], entry["rank"], n_iter=n_iter, name=entry["layer"])
        model.set_submodule(entry["layer"], fit.module)
        used.append({**entry, "method": fit.method, "rank": fit.rank})
        notes.append({"layer": entry["layer"], "rel_error": fit.rel_error, "retries": fit.retries})
    return used, notes
