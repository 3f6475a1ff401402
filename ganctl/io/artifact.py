"""Self-describing model artifacts, the file format: safetensors weights + a JSON spec + provenance.

This module writes artifacts and reads their headers; rebuilding a module from the spec is model
building and lives in `ganctl.models.artifact` (so io/ imports no model or stage code).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import safe_open, save_file
from torch import nn

import ganctl
from ganctl.errors import InputFileError
from ganctl.io.atomic import atomic_target, file_sha256
from ganctl.io.safeio import check_regular, parse_json

ARTIFACT_VERSION = 1
KINDS = {"generator": "ganctl.generator", "discriminator": "ganctl.discriminator"}


@dataclass
class ArtifactInfo:
    path: str
    kind: str
    version: int
    spec: dict[str, Any]
    provenance: dict[str, Any] = field(default_factory=dict)
    num_params: int = 0
    nonzero_params: int = 0
    sha256: str = ""


def _state_for_saving(module: nn.Module) -> dict[str, torch.Tensor]:
    # clone: safetensors refuses shared storage, and tied/aliased buffers are common under parametrizations
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in module.state_dict().items()}


def save_module(path: str | Path, module: nn.Module, kind: str, provenance: dict | None = None) -> None:
    """Save weights + spec atomically; `module.spec` must rebuild an identical module."""
    spec = getattr(module, "spec", None)
    if not isinstance(spec, dict):
        raise TypeError(f"{type(module).__name__} has no .spec dict; cannot write a self-describing artifact")
    prov = {"ganctl_version": ganctl.__version__, **(provenance or {})}
    metadata = {
        "format": KINDS[kind],
        "version": str(ARTIFACT_VERSION),
        "spec": json.dumps(spec, sort_keys=True),
        "provenance": json.dumps(prov, sort_keys=True, default=str),
        "num_params": str(sum(p.numel() for p in module.parameters())),
        "nonzero_params": str(sum(int(torch.count_nonzero(p)) for p in module.parameters())),
    }
    with atomic_target(path) as tmp:
        try:
            save_file(_state_for_saving(module), str(tmp), metadata=metadata)
        except SafetensorError as e:  # a full disk surfaces as SafetensorError, not OSError
            raise OSError(str(e).strip().splitlines()[0][:200]) from e


def save_generator(path: str | Path, module: nn.Module, provenance: dict | None = None) -> None:
    save_module(path, module, "generator", provenance)


def save_discriminator(path: str | Path, module: nn.Module, provenance: dict | None = None) -> None:
    save_module(path, module, "discriminator", provenance)


def _read_metadata(path: Path) -> dict[str, str]:
    check_regular(path, what="artifact")
    try:
        with safe_open(str(path), framework="pt") as f:
            return f.metadata() or {}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise InputFileError(f"not a readable .safetensors file ({str(e).splitlines()[0][:120]})", path) from e


def stored_shapes(path: str | Path) -> dict[str, tuple[int, ...]]:
    """Tensor shapes from the safetensors header (no tensor data is read)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118 - not a dict
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise InputFileError(f"not a readable .safetensors file ({str(e).splitlines()[0][:120]})", path) from e


def read_artifact(path: str | Path, expect_kind: str | None = None, with_hash: bool = True) -> ArtifactInfo:
    """Read and validate the header only (no model is built)."""
    path = Path(path)
    meta = _read_metadata(path)
    fmt = meta.get("format")
    kind = next((k for k, v in KINDS.items() if v == fmt), None)
    if kind is None:
        raise InputFileError("not a ganctl artifact (safetensors metadata has no ganctl format tag)", path)
    if expect_kind is not None and kind != expect_kind:
        raise InputFileError(f"is a {kind} artifact, expected a {expect_kind}", path)
    try:
        version = int(meta.get("version", ""))
    except ValueError:
        raise InputFileError(f"artifact version {meta.get('version')!r} is not an integer", path) from None
    if version != ARTIFACT_VERSION:
        raise InputFileError(f"artifact version {version} is not supported (expected {ARTIFACT_VERSION})", path)
    if "spec" not in meta:
        raise InputFileError("artifact has no spec in its metadata", path)
    spec = parse_json(meta["spec"], path, what="artifact spec metadata")
    provenance = parse_json(meta.get("provenance", "{}"), path, what="artifact provenance metadata")
    if not isinstance(spec, dict) or not isinstance(provenance, dict):
        raise InputFileError("artifact spec/provenance metadata must be JSON objects", path)
    try:
        num, nonzero = int(meta.get("num_params", 0)), int(meta.get("nonzero_params", 0))
    except ValueError:
        raise InputFileError("artifact parameter counts in the metadata are not integers", path) from None
    return ArtifactInfo(str(path), kind, version, spec, provenance, num, nonzero,
                        file_sha256(path) if with_hash else "")
