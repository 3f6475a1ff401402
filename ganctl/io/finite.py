"""One finiteness check for loaded weights: a NaN/Inf tensor makes every result from the model meaningless.

A generator with NaN weights still produces images (black ones) and a finite "FID", so the
check runs at load time, before anything is scored, sampled, compressed or resumed.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from ganctl.errors import InputFileError


def _tensors(obj: Any, prefix: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    if isinstance(obj, torch.Tensor):
        yield prefix or "tensor", obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _tensors(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _tensors(v, f"{prefix}[{i}]")


def first_nonfinite(obj: Any) -> str | None:
    """Name of the first floating tensor (in nested dicts/lists) holding NaN or ±Inf, else None."""
    for name, t in _tensors(obj):
        if (t.is_floating_point() or t.is_complex()) and t.numel() and not bool(torch.isfinite(t).all()):
            return name
    return None


def check_finite(obj: Any, path: str | Path, what: str = "weights") -> None:
    """Refuse (exit 3, naming the file) a state holding NaN/Inf."""
    bad = first_nonfinite(obj)
    if bad is not None:
        raise InputFileError(f"{what} hold NaN/Inf values (first in {bad}); refusing to use them", path)
