"""Exponential moving average of the generator, kept outside DDP and compile.

Evaluation and export use the EMA copy (methods §10). Parameters are averaged; buffers
(BN running stats, SN vectors) are copied, since averaging them has no meaning.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    def __init__(self, module: nn.Module, decay: float):
        self.decay = float(decay)
        self.module = copy.deepcopy(module).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, source: nn.Module) -> None:
        """ema ← decay·ema + (1−decay)·source, in one fused call per tensor list."""
        ema_params = list(self.module.parameters())
        src_params = [p.detach() for p in source.parameters()]
        if ema_params:
            torch._foreach_lerp_(ema_params, src_params, 1.0 - self.decay)
        for dst, src in zip(self.module.buffers(), source.buffers(), strict=True):
            dst.copy_(src)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.module.load_state_dict(state, strict=True)
