"""Replay a decomposition plan on a freshly built model (shapes only; the weights load afterwards).

A plan is a list of {"layer", "type", "method", "rank"} entries saved in the artifact spec; fitting
the factors of a trained model is compress's job (`ganctl.compress.plan.decompose_model`).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ganctl.errors import SpecError
from ganctl.nn.factorised import build_factorised, layer_type

PLAN_KEYS = ("layer", "type", "method", "rank")


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


def lookup_layer(model: nn.Module, entry: dict[str, Any]) -> nn.Module:
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
        layer = lookup_layer(model, entry)
        module = build_factorised(layer, entry["method"], entry["rank"])
        if module.method != entry["method"]:
            raise SpecError(f"decomposition plan: {entry['layer']!r} cannot use method {entry['method']!r}")
        p = next(layer.parameters())
        model.set_submodule(entry["layer"], module.to(device=p.device, dtype=p.dtype))
    return model
