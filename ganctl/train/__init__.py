"""Training stage: `ganctl.train.run(cfg)` trains a generator on the core loop (ganctl.core.loop).

Import-light on purpose: `import ganctl.train.config` loads no torch; the stage loads on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> (submodule, attribute)
_EXPORTS = {
    "run": ("loop", "train"),
    "train": ("loop", "train"),
    "Hooks": ("loop", "Hooks"),
    "TrainConfig": ("config", "TrainConfig"),
    "resolve_config": ("config", "resolve_config"),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'ganctl.train' has no attribute {name!r}")
    module, attr = _EXPORTS[name]
    return getattr(importlib.import_module(f"ganctl.train.{module}"), attr)
