"""The sample stage: `run(SampleConfig)` writes a grid, numbered PNGs or an .npz from a generator artifact.

Import-light on purpose (the package is reached through the `ganctl.sample` API function): the stage
module, and torch with it, is imported on first use of a name listed here. The sampling library itself
lives in `ganctl.evaluate.sample` and `ganctl.evaluate.generate`.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {"run": "stage", "SampleConfig": "stage", "SampleOutcome": "stage"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'ganctl.sample' has no attribute {name!r}")
    return getattr(importlib.import_module(f"ganctl.sample.{_EXPORTS[name]}"), name)
