"""Mixing weights from architecture logits: softmax, or Gumbel-softmax with an annealed temperature.

The Gumbel noise is added to the LOGITS (not to log-softmax probabilities, which would differ only
by a per-edge constant — same sample, but the logits are what the spec names). τ decays
exponentially from `start` at step 0 to `end` at the last step: τ(t) = start · (end/start)^(t/(T-1)).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def temperature(step: int, total_steps: int, start: float = 5.0, end: float = 0.1) -> float:
    """τ at iteration `step` of `total_steps` (clamped at the ends)."""
    if total_steps <= 1:
        return float(end)
    progress = min(max(step / (total_steps - 1), 0.0), 1.0)
    return float(start * (end / start) ** progress)


def epoch_temperature(step: int, epoch_steps: int, total_steps: int, start: float = 5.0, end: float = 0.1
                      ) -> float:
    """τ per epoch, as the seed paper's search: the first of E = total/epoch_steps + 1 epochs only derives,
    so training step t lies in epoch e = 1 + t // epoch_steps, and τ = max(end, start·(end/start)^(e/E))."""
    n_epochs = total_steps // epoch_steps + 1
    epoch = 1 + step // epoch_steps
    return float(max(end, start * (end / start) ** (epoch / n_epochs)))


def mix_weights(logits: torch.Tensor, tau: float, gumbel: bool) -> torch.Tensor:
    """Weights over an edge's candidate ops (sum to 1). Gumbel draws from the global torch RNG."""
    if not gumbel:
        return torch.softmax(logits, dim=-1)
    return F.gumbel_softmax(logits, tau=tau, hard=False, dim=-1)
