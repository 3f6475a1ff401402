"""Compression stage (methods §5-§6): CP/Tucker-2 decomposition with ARD ranks, then fine-tuning on the core loop.

`ganctl.compress.run(cfg)` is the stage; import-light on purpose (the names load on first use).
"""

from __future__ import annotations

from ganctl.lazy import lazy_getattr

# name -> (submodule, attribute)
_EXPORTS = {
    "run": ("stage", "compress"),
    "compress": ("stage", "compress"),
    "CompressConfig": ("stage", "CompressConfig"),
    "Hooks": ("stage", "Hooks"),
    "FinetuneConfig": ("finetune", "FinetuneConfig"),
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_getattr(__name__, _EXPORTS)
