"""The one GAN training loop: n_critic D steps, one G step, repeat; everything else is a hook.

`train` (with evaluation, sparsity, EMA, ticks and checkpoints as hooks) and `compress`
fine-tuning (logging and checkpoints as hooks) both run on `GANLoop`, so the order in which
random numbers are drawn is the same for both and written once: per step, for each critic
step a real batch then its noise, then the generator's noise (Pulakurthi et al., 2024, §10:
alternating D/G updates with n_critic D steps per G step). The loop owns no RNG itself: the
callers' `next_real`/`next_noise` draw from their saved streams, which is what makes a resumed
run continue bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ganctl.core.losses import BoundSchedule
from ganctl.core.step import GANStep


@dataclass
class LoopHooks:
    """What a stage adds around the step; each hook is optional."""

    before_step: Callable[[int], None] | None = None  # before the step, given the steps done (LR schedule)
    after_d: Callable[[], None] | None = None  # after every critic step (sparse D masks)
    after_g: Callable[[int], None] | None = None  # after the G step, given the new step count (sparsity, EMA)
    after_step: Callable[[int], None] | None = None  # after the losses are recorded (ticks, evaluation, checkpoints)


class GANLoop:
    """Runs `step_fn` from `step` to `total`; `bound` (if any) sets the MMD b_u before each step."""

    def __init__(
        self,
        step_fn: GANStep,
        next_real: Callable[[], torch.Tensor],
        next_noise: Callable[[torch.Tensor], torch.Tensor],
        *,
        n_critic: int,
        total: int,
        bound: BoundSchedule | None = None,
        hooks: LoopHooks | None = None,
    ):
        self.step_fn, self.next_real, self.next_noise = step_fn, next_real, next_noise
        self.n_critic, self.total, self.bound = n_critic, total, bound
        self.hooks = hooks or LoopHooks()
        self.step = 0

    def one_step(self) -> None:
        """One generator update with its critic updates; `next_noise` gets the real batch it goes with."""
        sf, hooks = self.step_fn, self.hooks
        if hooks.before_step:
            hooks.before_step(self.step)
        if self.bound is not None:
            sf.b_u = self.bound.b_u
        real, loss_d = None, None
        for _ in range(self.n_critic):
            real = self.next_real()
            loss_d = sf.d_step(real, self.next_noise(real))
            if hooks.after_d:
                hooks.after_d()
        assert real is not None and loss_d is not None  # n_critic >= 1 (Recipe validation)
        loss_g = sf.g_step(real, self.next_noise(real))
        self.step += 1
        if hooks.after_g:
            hooks.after_g(self.step)
        sf.record(self.step, loss_d, loss_g)  # on the device: no host sync per step
        if hooks.after_step:
            hooks.after_step(self.step)

    def run(self) -> int:
        """Steps until `total`; returns the step reached."""
        while self.step < self.total:
            self.one_step()
        return self.step
