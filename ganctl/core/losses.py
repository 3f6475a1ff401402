"""GAN losses on discriminator outputs (methods §2, §3, §6), always computed in fp32.

``real``/``fake`` are D outputs: (m, d) vectors for MMD, (m, 1) or (m,) scores for hinge/ns.
Pairwise squared distances are summed from exact differences a_i − b_j (an m×n×d tensor: O(m²·d)
memory, tiny for d = 16). The Gram form ‖a‖² + ‖b‖² − 2a·b cancels catastrophically: the loss is
invariant to a common shift of D's outputs, nothing keeps them near 0, and at an offset of 1000 the
fp32 Gram form is off by ~8 % and can flip the sign of the generator loss (the seed paper's code
uses differences too). The L1 distances of the modified MMD term use ``torch.cdist(p=1)``, which
also works on differences. Same-set means exclude the diagonal
(divide by m(m−1)); the cross term averages all m·n pairs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from ganctl.errors import UsageError
from ganctl.recipe import BOUND_SCHEDULES, DEFAULTS, Recipe

LOSSES = ("mmd", "hinge", "ns")


def _fp32(x: torch.Tensor) -> torch.Tensor:
    x = x.float()
    return x.reshape(x.shape[0], -1)


def _no_autocast(fn: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """Run ``fn`` with autocast disabled on the inputs' device (kernel maths stays fp32)."""

    def wrapped(real: torch.Tensor, fake: torch.Tensor, *args: Any, **kw: Any) -> torch.Tensor:
        with torch.autocast(device_type=fake.device.type, enabled=False):
            return fn(real, fake, *args, **kw)

    wrapped.__name__, wrapped.__doc__ = fn.__name__, fn.__doc__
    return wrapped


def pairwise_sq_dists(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(m, n) squared Euclidean distances from exact differences (no cancellation, never negative)."""
    diff = a.unsqueeze(1) - b.unsqueeze(0)
    return diff.pow(2).sum(-1)


def _offdiag_mean(mat: torch.Tensor) -> torch.Tensor:
    m = mat.shape[0]
    if m < 2:
        raise UsageError("MMD losses need a batch of at least 2 samples")
    return (mat.sum() - mat.diagonal().sum()) / (m * (m - 1))


@_no_autocast
def mmd_d_loss(
    real: torch.Tensor,
    fake: torch.Tensor,
    b_l: float = DEFAULTS.bound_lower,
    b_u: float = DEFAULTS.bound_upper,
    modified_weight: float = DEFAULTS.mmd_modified_weight,
    sigma: float = 1.0,
) -> torch.Tensor:
    """Repulsive MMD D loss with bounded kernel, plus λ_m·mean_{i≠j} sqrt(max(‖b_i−b_j‖₁, b_l)).

    L = mean_{i≠j} k(min(‖a_i−a_j‖², b_u)) − mean_{i≠j} k(max(‖b_i−b_j‖², b_l)), k(d²)=exp(−d²/(2σ²)).
    """
    a, b = _fp32(real), _fp32(fake)
    scale = 1.0 / (2.0 * sigma * sigma)
    k_rr = torch.exp(-scale * pairwise_sq_dists(a, a).clamp(max=b_u))
    k_ff = torch.exp(-scale * pairwise_sq_dists(b, b).clamp(min=b_l))
    loss = _offdiag_mean(k_rr) - _offdiag_mean(k_ff)
    if modified_weight:
        l1 = torch.cdist(b, b, p=1.0)
        loss = loss + modified_weight * _offdiag_mean(torch.sqrt(l1.clamp(min=b_l)))
    return loss


@_no_autocast
def mmd_g_loss(
    real: torch.Tensor, fake: torch.Tensor, sqrt: bool = False, sigma: float = 1.0
) -> torch.Tensor:
    """Plain (unbounded) MMD² between real and fake outputs; optionally sqrt(max(MMD², 0))."""
    a, b = _fp32(real), _fp32(fake)
    scale = 1.0 / (2.0 * sigma * sigma)
    mmd2 = (
        _offdiag_mean(torch.exp(-scale * pairwise_sq_dists(a, a)))
        + _offdiag_mean(torch.exp(-scale * pairwise_sq_dists(b, b)))
        - 2.0 * torch.exp(-scale * pairwise_sq_dists(a, b)).mean()
    )
    return torch.sqrt(mmd2.clamp_min(0.0)) if sqrt else mmd2


@_no_autocast
def hinge_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return F.relu(1.0 - real.float()).mean() + F.relu(1.0 + fake.float()).mean()


@_no_autocast
def hinge_g_loss(real: torch.Tensor | None, fake: torch.Tensor) -> torch.Tensor:
    return -fake.float().mean()


@_no_autocast
def ns_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Non-saturating (logistic) D loss: softplus(−D(x)) + softplus(D(G(z)))."""
    return F.softplus(-real.float()).mean() + F.softplus(fake.float()).mean()


@_no_autocast
def ns_g_loss(real: torch.Tensor | None, fake: torch.Tensor) -> torch.Tensor:
    return F.softplus(-fake.float()).mean()


_D = {"mmd": mmd_d_loss, "hinge": hinge_d_loss, "ns": ns_d_loss}
_G = {"mmd": mmd_g_loss, "hinge": hinge_g_loss, "ns": ns_g_loss}


def _pick(table: dict, name: str) -> Callable[..., torch.Tensor]:
    if name not in table:
        raise UsageError(f"unknown loss {name!r} (choose {', '.join(LOSSES)})")
    return table[name]


def d_loss(name: str, real: torch.Tensor, fake: torch.Tensor, **kw: Any) -> torch.Tensor:
    """Discriminator loss by name (mmd|hinge|ns); keyword options go to the loss."""
    return _pick(_D, name)(real, fake, **kw)


def g_loss(name: str, real: torch.Tensor | None, fake: torch.Tensor, **kw: Any) -> torch.Tensor:
    """Generator loss by name (mmd needs ``real`` outputs; hinge/ns ignore them)."""
    return _pick(_G, name)(real, fake, **kw)


def dgl_teacher_term(
    name: str,
    teacher_real: torch.Tensor | None,
    teacher_fake: torch.Tensor,
    alpha: float = DEFAULTS.dgl_weight,
    **kw: Any,
) -> torch.Tensor:
    """DGL-GAN term α·L_adv(D_t(G_s(z))) to add to the student's generator loss (methods §6).

    ``teacher_fake`` = frozen teacher D on the student's samples; ``teacher_real`` = teacher D on
    real data (needed for MMD only).
    """
    return alpha * g_loss(name, teacher_real, teacher_fake, **kw)


BOUND_MODES = tuple(sorted(BOUND_SCHEDULES))  # the recipe's schedules, listed alphabetically


@dataclass
class BoundSchedule:
    """Progressive upper bound b_u of the MMD D loss (methods §3); lower metric (FID) is better.

    ``saturate``: after ``patience`` consecutive non-improving evaluations multiply b_u by
    ``factor`` (cap ``cap``), reset the count. ``saturate-linear``: add ``increment`` instead.
    ``linear``: geometric growth from ``initial`` to ``cap`` over ``total_updates`` evaluations.
    ``fixed``: never changes. The whole state round-trips through ``state_dict``.
    """

    mode: str = DEFAULTS.bound_schedule
    initial: float = DEFAULTS.bound_upper
    cap: float = DEFAULTS.bound_cap
    patience: int = DEFAULTS.bound_patience
    factor: float = DEFAULTS.bound_factor
    increment: float = DEFAULTS.bound_increment
    total_updates: int = 100
    current: float = field(default=-1.0)
    counter: int = 0
    best: float | None = None
    updates: int = 0

    def __post_init__(self) -> None:
        if self.mode not in BOUND_MODES:
            raise UsageError(f"unknown bound schedule {self.mode!r} (choose {', '.join(BOUND_MODES)})")
        if self.initial <= 0 or self.cap < self.initial:
            raise UsageError(f"bound schedule needs 0 < initial ({self.initial}) <= cap ({self.cap})")
        if self.current < 0:
            self.current = float(self.initial)

    @classmethod
    def from_recipe(cls, recipe: Recipe, total_updates: int) -> BoundSchedule:
        """The schedule a recipe asks for (Pulakurthi et al., 2024, §4); `total_updates` evaluations in the run."""
        return cls(mode=recipe.bound_schedule, initial=recipe.bound_upper, cap=recipe.bound_cap,
                   patience=recipe.bound_patience, factor=recipe.bound_factor, increment=recipe.bound_increment,
                   total_updates=total_updates)

    @property
    def b_u(self) -> float:
        return self.current

    def update(self, metric: float | None = None) -> float:
        """Record one evaluation's metric and return the (possibly raised) b_u."""
        self.updates += 1
        if self.mode == "linear":
            frac = min(1.0, self.updates / max(1, self.total_updates))
            self.current = self.initial * math.exp(frac * math.log(self.cap / self.initial))
        elif self.mode in ("saturate", "saturate-linear"):
            if metric is not None and (self.best is None or metric < self.best):
                self.best, self.counter = float(metric), 0
            else:
                self.counter += 1
            if self.counter >= self.patience:
                raised = (
                    self.current * self.factor if self.mode == "saturate" else self.current + self.increment
                )
                self.current, self.counter = min(raised, self.cap), 0
        return self.current

    def state_dict(self) -> dict[str, Any]:
        return {
            k: getattr(self, k)
            for k in (
                "mode",
                "initial",
                "cap",
                "patience",
                "factor",
                "increment",
                "total_updates",
                "current",
                "counter",
                "best",
                "updates",
            )
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            if k not in self.state_dict():
                raise UsageError(f"unknown bound-schedule state key {k!r}")
            setattr(self, k, v)
