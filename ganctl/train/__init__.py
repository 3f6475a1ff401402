"""Training stage: `ganctl.train.run(cfg)` trains a generator on the core loop (ganctl.core.loop).

Import-light on purpose: `import ganctl.train.config` loads no torch; the stage loads on first use.
"""

from __future__ import annotations

from ganctl.lazy import lazy_getattr

# name -> (submodule, attribute)
_EXPORTS = {
    "run": ("loop", "train"),
    "train": ("loop", "train"),
    "Hooks": ("loop", "Hooks"),
    "TrainConfig": ("config", "TrainConfig"),
    "resolve_config": ("config", "resolve_config"),
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_getattr(__name__, _EXPORTS)
