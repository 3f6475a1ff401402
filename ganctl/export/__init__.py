"""Export a generator artifact for deployment: ONNX (for ONNX Runtime) or TorchScript (for libtorch).

The formats and the default opset are here, torch-free, so `ganctl --help` can show them without
loading torch; the exporter itself (`export_generator`, `ExportResult`) is in `writer.py` and is
imported on first use of its name.
"""

from __future__ import annotations

import importlib
from typing import Any

FORMATS = {"onnx": (".onnx",), "torchscript": (".pt", ".ts", ".torchscript")}  # format -> file suffixes
DEFAULT_OPSET = 17

_EXPORTS = {"export_generator": "writer", "ExportResult": "writer", "CHECK_ATOL": "writer"}

__all__ = sorted([*_EXPORTS, "FORMATS", "DEFAULT_OPSET"])


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'ganctl.export' has no attribute {name!r}")
    return getattr(importlib.import_module(f"ganctl.export.{_EXPORTS[name]}"), name)
