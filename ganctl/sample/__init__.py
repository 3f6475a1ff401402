"""The sample stage: `run(SampleConfig)` writes a grid, numbered PNGs or an .npz from a generator artifact.

Import-light on purpose (the package is reached through the `ganctl.sample` API function): the stage
module, and torch with it, is imported on first use of a name listed here. The sampling library itself
lives in `ganctl.evaluate.sample` and `ganctl.evaluate.generate`.
"""

from __future__ import annotations

from ganctl.lazy import lazy_getattr

_EXPORTS = {"run": "stage", "SampleConfig": "stage", "SampleOutcome": "stage"}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_getattr(__name__, _EXPORTS)
