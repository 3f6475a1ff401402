"""Import-light packages: a module `__getattr__` (PEP 562) that imports a submodule on first use of a name.

The stage packages use it so that `import ganctl.train.config` or `ganctl --help` loads no torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_getattr(package: str, exports: dict[str, str | tuple[str, str]]) -> Callable[[str], Any]:
    """`exports` maps a public name to its submodule (same attribute name) or to (submodule, attribute)."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        target = exports[name]
        module, attr = (target, name) if isinstance(target, str) else target
        return getattr(importlib.import_module(f"{package}.{module}"), attr)

    return __getattr__
