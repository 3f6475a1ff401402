"""Activations selectable by name, including the learnable PMish and Swish.

PMish (methods §1): f(x) = x · tanh(softplus(βx) / β), one learnable scalar β per module,
initialised to 1.0. β ≤ 0 makes the expression meaningless, so the forward pass uses
β clamped to at least ``BETA_MIN`` (1e-3). The stored parameter itself is never altered;
while it sits below the floor its gradient is zero (clamp), which in practice does not
happen for trained generators (learned β lies in about 0.1–4).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganctl.errors import SpecError

BETA_MIN = 1e-3
ACTIVATIONS = ("pmish", "relu", "silu", "mish", "swish")


class PMish(nn.Module):
    """Parametric Mish: β→∞ tends to x·tanh(relu(x)); β=1 is Mish."""

    def __init__(self, beta: float = 1.0):
        super().__init__()
        # Shape (1,) rather than a 0-d scalar: plays well with every state-dict format.
        self.beta = nn.Parameter(torch.full((1,), float(beta)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        beta = self.beta.clamp(min=BETA_MIN).to(x.dtype)
        return x * torch.tanh(F.softplus(beta * x) / beta)


class Swish(nn.Module):
    """Swish with a learnable β: x · σ(βx) (β=1 is SiLU)."""

    def __init__(self, beta: float = 1.0):
        super().__init__()
        self.beta = nn.Parameter(torch.full((1,), float(beta)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.beta.to(x.dtype) * x)


def make_activation(name: str) -> nn.Module:
    """A fresh activation module for ``name`` (pmish, relu, silu, mish, swish)."""
    if name == "pmish":
        return PMish()
    if name == "relu":
        return nn.ReLU()
    if name == "silu":
        return nn.SiLU()
    if name == "mish":
        return nn.Mish()
    if name == "swish":
        return Swish()
    raise SpecError(f"unknown activation {name!r} (choose one of {', '.join(ACTIVATIONS)})")


def pmish_betas(module: nn.Module) -> dict[str, float]:
    """Learned PMish β per layer, keyed by module name, in module order (for reports and plots)."""
    return {
        name: float(m.beta.detach().clamp(min=BETA_MIN).item())
        for name, m in module.named_modules()
        if isinstance(m, PMish)
    }
