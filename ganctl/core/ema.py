"""Exponential moving average of the generator, kept outside DDP and compile.

Evaluation and export use the EMA copy (methods §10). Parameters are averaged; buffers
(BN running stats, SN vectors) are copied, since averaging them has no meaning.

Warm-up: at update t (1-based) the decay is min(decay, (1 + t) / (10 + t)), so a short run exports a
generator that reflects its training instead of its initialisation; after ~10k updates it is the plain
0.999 of the paper's recipe. The decay is derived from the step, so resume needs no extra state.
``warmup=False`` uses the fixed decay from the first update, as the paper's public code does.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    def __init__(self, module: nn.Module, decay: float, warmup: bool = True):
        self.decay = float(decay)
        self.warmup = bool(warmup)
        self.module = copy.deepcopy(module).eval().requires_grad_(False)

    def decay_at(self, step: int | None) -> float:
        if step is None or not self.warmup:
            return self.decay
        return min(self.decay, (1.0 + step) / (10.0 + step))

    @torch.no_grad()
    def update(self, source: nn.Module, step: int | None = None) -> None:
        """ema ← d·ema + (1−d)·source with d = decay_at(step), in one fused call per tensor list."""
        ema_params = list(self.module.parameters())
        src_params = [p.detach() for p in source.parameters()]
        if ema_params:
            torch._foreach_lerp_(ema_params, src_params, 1.0 - self.decay_at(step))
        for dst, src in zip(self.module.buffers(), source.buffers(), strict=True):
            dst.copy_(src)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.module.load_state_dict(state, strict=True)
