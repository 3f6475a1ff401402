"""DGL-GAN (methods §6): a frozen teacher discriminator adds α·L_adv(D_t(G(z))) to G's loss.

Two-stage use: train the student normally (stage 1), then `--resume --allow-change teacher_d
--allow-change dgl_weight --teacher-d TEACHER` (or a fresh run) adds the teacher term.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ganctl.errors import InputFileError, UsageError
from ganctl.io.checkpoint import load_checkpoint
from ganctl.models.artifact import build_from_spec, load_discriminator
from ganctl.models.limits import check_against_file


def load_teacher(path: str | Path, resolution: int, device: torch.device) -> nn.Module:
    """A frozen D from a discriminator.safetensors or a train checkpoint; refuses another resolution."""
    path = Path(path)
    if path.suffix == ".safetensors":
        teacher, info = load_discriminator(path)
        spec = info.spec
    else:
        state = load_checkpoint(path, expect_kind="train")
        spec = state.get("d_spec")
        if not isinstance(spec, dict):
            raise InputFileError("train checkpoint has no discriminator spec", path)
        stored = state.get("D")
        if not isinstance(stored, dict) or not all(isinstance(v, torch.Tensor) for v in stored.values()):
            raise InputFileError("train checkpoint has no discriminator weights", path)
        check_against_file("discriminator", spec, {k: tuple(v.shape) for k, v in stored.items()}, path)
        teacher = build_from_spec("discriminator", spec, path)
        try:
            teacher.load_state_dict(state["D"], strict=True)
        except (KeyError, RuntimeError) as e:
            raise InputFileError(
                f"discriminator weights do not match their spec ({str(e)[:120]})", path
            ) from e
    if int(spec.get("resolution", -1)) != resolution:
        raise UsageError(
            f"--teacher-d {path}: teacher discriminator takes {spec.get('resolution')} px images, "
            f"this run trains at {resolution} px"
        )
    return teacher.to(device).eval().requires_grad_(False)


def check_teacher_shape(teacher: nn.Module, resolution: int, device: torch.device, path: str) -> None:
    """One probe forward so a teacher that cannot take this run's images fails before training."""
    try:
        with torch.no_grad():
            teacher(torch.zeros(2, 3, resolution, resolution, device=device))
    except RuntimeError as e:
        raise UsageError(
            f"--teacher-d {path}: teacher discriminator cannot take {resolution} px images "
            f"({str(e).splitlines()[0][:120]})"
        ) from e
