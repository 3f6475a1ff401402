"""Compression stage (methods §5-§6): CP/Tucker-2 decomposition with ARD ranks, then fine-tuning on the core loop.

`ganctl.compress.run(cfg)` is the stage; import-light on purpose (the names load on first use).
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> (submodule, attribute)
_EXPORTS = {
    "run": ("stage", "compress"),
    "compress": ("stage", "compress"),
    "CompressConfig": ("stage", "CompressConfig"),
    "Hooks": ("stage", "Hooks"),
    "FinetuneConfig": ("finetune", "FinetuneConfig"),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'ganctl.compress' has no attribute {name!r}")
    module, attr = _EXPORTS[name]
    return getattr(importlib.import_module(f"ganctl.compress.{module}"), attr)
