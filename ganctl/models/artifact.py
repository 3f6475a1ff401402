"""Rebuild modules from self-describing artifacts: `build_generator(spec)`, then the decomposition
plan (compressed models) is replayed, then the weights load strictly (and must be finite).

The file format itself (header, writing) is `ganctl.io.artifact`; this is the model-building half.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from ganctl import models  # the package, so a patched `models.build_generator` is the one used
from ganctl.errors import GanctlError, InputFileError
from ganctl.io.artifact import ArtifactInfo, read_artifact, stored_shapes
from ganctl.io.finite import check_finite
from ganctl.models.limits import check_against_file, check_spec
from ganctl.models.plan import apply_plan


def build_from_spec(kind: str, spec: dict[str, Any], path: str | Path | None = None) -> nn.Module:
    """Rebuild an (untrained) module from its spec, replaying a decomposition plan when present."""
    try:
        check_spec(kind, spec)
        module = models.build_generator(spec) if kind == "generator" else models.build_discriminator(spec)
        plan = spec.get("decomposition")
        if plan:
            apply_plan(module, plan)
            module.spec = spec
    except GanctlError as e:
        raise InputFileError(f"spec cannot be rebuilt: {e}", path) from e
    except (KeyError, TypeError, ValueError) as e:
        raise InputFileError(f"spec cannot be rebuilt ({type(e).__name__}: {e})", path) from e
    return module


def load_module(path: str | Path, kind: str, device: str | torch.device = "cpu") -> tuple[nn.Module, ArtifactInfo]:
    path = Path(path)
    info = read_artifact(path, expect_kind=kind)
    check_against_file(kind, info.spec, stored_shapes(path), path)  # before anything big is allocated
    module = build_from_spec(kind, info.spec, path)
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as e:
        raise InputFileError(f"artifact tensors are unreadable ({e})", path) from e
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise InputFileError(
            f"weights do not match the spec ({len(missing)} missing, e.g. {missing[:2]}; "
            f"{len(unexpected)} unexpected, e.g. {unexpected[:2]})", path)
    bad = [k for k in own if own[k].shape != state[k].shape]
    if bad:
        raise InputFileError(f"weight shapes do not match the spec: {bad[0]} is {tuple(state[bad[0]].shape)}, "
                             f"spec needs {tuple(own[bad[0]].shape)}", path)
    check_finite(state, path)
    module.load_state_dict(state, strict=True)
    return module.to(device).eval(), info


def load_generator(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, ArtifactInfo]:
    return load_module(path, "generator", device)


def load_discriminator(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, ArtifactInfo]:
    return load_module(path, "discriminator", device)
