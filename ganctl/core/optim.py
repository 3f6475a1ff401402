"""The CUDA fast path's switches in one place: optimisers, torch.compile, and when each is on.

Why: eager PyTorch issues thousands of small kernels per GAN step on the large model, so launch
overhead, not arithmetic, bounds a GPU step; fusing them (torch.compile), one fused Adam kernel and
bf16 tensor cores are what close the gap. On the CPU every switch falls back to the plain path, so
CPU runs stay fp32 eager and bit-reproducible unless a flag asks otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from ganctl.errors import UsageError
from ganctl.recipe import COMPILE_MODES


def make_adam(
    params: Iterable[nn.Parameter], lr: float, betas: tuple[float, float], device: torch.device
) -> torch.optim.Adam:
    """Adam as one fused kernel on CUDA, the multi-tensor (foreach) path elsewhere; same update rule."""
    params = list(params)
    if device.type == "cuda":
        return torch.optim.Adam(params, lr=lr, betas=betas, fused=True)
    return torch.optim.Adam(params, lr=lr, betas=betas, foreach=True)


def lr_factor(step: int, total: int, decay_start: float | None) -> float:
    """Learning-rate multiplier before update `step` (0-based) of `total`: 1, then linear towards 0.

    decay_start None keeps the rates constant (the paper's recipe, methods §10). Otherwise the rates stay
    constant until update ⌊decay_start·total⌋ and then fall linearly, the last update using 1/(remaining
    steps) of them -- the optional linear decay of AutoGAN-style training code, started late so that a
    short run first learns at full speed and then settles instead of ending mid-oscillation.
    """
    if decay_start is None:
        return 1.0
    first = int(decay_start * total)
    if step < first:
        return 1.0
    return max(total - step, 0) / max(total - first, 1)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Every parameter group of `optimizer` at `lr` (the scheduled rate is derived from the step, so a
    resumed run needs no scheduler state)."""
    for group in optimizer.param_groups:
        group["lr"] = lr


def resolve_compile(flag: bool | None, device: torch.device) -> bool:
    """None = automatic: compile on CUDA (where it pays), not on the CPU (where warm-up dominates)."""
    return device.type == "cuda" if flag is None else bool(flag)


def check_compile_mode(mode: str) -> str:
    if mode not in COMPILE_MODES:
        raise UsageError(f"--compile-mode {mode!r}: choose one of {', '.join(COMPILE_MODES)}")
    return mode


def compile_module(module: nn.Module, mode: str = "default") -> nn.Module:
    """torch.compile with static shapes (the batch never changes inside a run)."""
    check_compile_mode(mode)
    return torch.compile(module, mode=None if mode == "default" else mode, dynamic=False)  # type: ignore[return-value]


def synchronize(device: torch.device) -> None:
    """Wait for queued device work (timing a warm-up needs it; a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
