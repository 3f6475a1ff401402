"""The MMD-GAN (or hinge) train step: the method owns its step, the loop only schedules.

Speed path: one D forward over cat(real, fake) per D step and one power iteration per G step
(`d_forward="joint"`), D frozen in the G step (no D weight-gradients are computed there, and no
backward pass through D for the real images, which are scored without autograd), autocast (bf16) around the networks
while the losses cast to fp32 themselves, and no host syncs: the losses are accumulated on the
device and the first non-finite step is recorded on the device too.

`d_forward="separate"` calls D on real and on fake one after the other, as the seed paper's public
code does: the same maths for a D without state, but a spectrally normalised D then advances its
power iteration twice per call site (4 per step instead of 2), so fake is scored with a vector one
iteration further on than real.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

from ganctl.core import losses
from ganctl.core.ddp import gather
from ganctl.nn.spectral import power_iteration_paused
from ganctl.recipe import DEFAULTS, Recipe
from ganctl.runtime import World, precision_autocast, resolve_precision


@dataclass
class StepModules:
    """G/D as the step calls them: `*_train` may be DDP/compile-wrapped; `*_raw` are the plain modules."""

    g_raw: nn.Module
    d_raw: nn.Module
    g_train: nn.Module  # G forward with gradient (DDP-wrapped when distributed)
    g_nograd: nn.Module  # G forward for the D step (no DDP hooks needed)
    d_train: nn.Module  # D forward whose gradient trains D (DDP-wrapped when distributed)
    d_frozen: nn.Module  # D forward inside the G step (params frozen, no DDP)
    teacher: nn.Module | None = None  # frozen D of the uncompressed model (DGL, methods §6)
    g_teacher: nn.Module | None = None  # frozen uncompressed G (output distillation while fine-tuning)


class GANStep:
    def __init__(
        self,
        mods: StepModules,
        opt_g: torch.optim.Optimizer,
        opt_d: torch.optim.Optimizer,
        recipe: Recipe,
        *,
        device: torch.device,
        world: World,
        channels_last: bool = False,
        distill_weight: float = 0.0,
    ):
        """The step reads the recipe's loss, b_l, λ_m, DGL α, D-forward mode and precision ("auto" is
        resolved for `device`); b_u is set by the loop before each step (it follows the bound schedule)."""
        self.m, self.opt_g, self.opt_d = mods, opt_g, opt_d
        self.loss, self.b_l, self.modified_weight = recipe.loss, recipe.bound_lower, recipe.mmd_modified_weight
        self.dgl_weight = recipe.dgl_weight
        self.distill_weight = float(distill_weight)  # acts only with mods.g_teacher
        self.precision, self.device, self.world = resolve_precision(recipe.precision, device), device, world
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.d_forward = recipe.d_forward  # one of D_FORWARDS (checked when the recipe was built)
        self.b_u = DEFAULTS.bound_upper  # the loop sets the scheduled value before every D step
        self.reset_sums()
        self.bad_step = torch.full((), -1, dtype=torch.long, device=device)

    # -- precision -------------------------------------------------------------------------
    def autocast(self) -> contextlib.AbstractContextManager:
        return precision_autocast(self.device, self.precision)

    def _d_outputs(
        self, d: nn.Module, real: torch.Tensor, fake: torch.Tensor, *, d_frozen: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """D outputs for real and fake, gathered across ranks (global-batch loss).

        joint: one forward over cat(real, fake) (half the launches, one power iteration); with D frozen (the G
        step) the real half carries no gradient, so it is scored without autograd and fake then with the same
        σ (power iteration paused): the same maths as the one call, without a backward pass through D for the
        real images. separate: two forwards, real first (the reference code's order).
        """
        fmt = self.memory_format
        fake = fake.to(real.dtype)
        if self.d_forward == "separate":
            r = d(real.contiguous(memory_format=fmt)).float()
            f = d(fake.contiguous(memory_format=fmt)).float()
        elif d_frozen:
            with torch.no_grad():
                r = d(real.contiguous(memory_format=fmt)).float()
            with power_iteration_paused(d):
                f = d(fake.contiguous(memory_format=fmt)).float()
        else:
            out = d(torch.cat([real, fake]).contiguous(memory_format=fmt)).float()
            r, f = out[: real.shape[0]], out[real.shape[0] :]
        return gather(r, self.world), gather(f, self.world)

    # -- losses ----------------------------------------------------------------------------
    def discriminator_loss(self, real: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        with torch.no_grad(), self.autocast():
            fake = self.m.g_nograd(z)
        with self.autocast():
            r, f = self._d_outputs(self.m.d_train, real, fake)
        if self.loss == "mmd":
            return losses.mmd_d_loss(r, f, b_l=self.b_l, b_u=self.b_u, modified_weight=self.modified_weight)
        return losses.d_loss(self.loss, r, f)

    def generator_loss(self, real: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(total loss, teacher term or None); D's parameters must be frozen by the caller."""
        with self.autocast():
            fake = self.m.g_train(z)
            r, f = self._d_outputs(self.m.d_frozen, real, fake, d_frozen=True)
        total = losses.g_loss(self.loss, r, f)
        term = None
        if self.m.teacher is not None and self.dgl_weight > 0:
            with self.autocast():
                with torch.no_grad():
                    tr = gather(
                        self.m.teacher(real.contiguous(memory_format=self.memory_format)).float(), self.world
                    )
                tf = gather(
                    self.m.teacher(fake.contiguous(memory_format=self.memory_format)).float(), self.world
                )
            term = losses.dgl_teacher_term(self.loss, tr, tf, alpha=self.dgl_weight)
            total = total + term
        if self.m.g_teacher is not None and self.distill_weight > 0:
            total = total + self.distill_weight * self.distill_term(fake, z)
        return total, term

    def distill_term(self, fake: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Mean |G(z) - G_teacher(z)| over pixels: output distillation from the uncompressed generator
        (Li et al., 2020, GAN Compression, §3.1), a regression target that keeps a decomposed G near the
        dense one where the adversarial signal alone drifts."""
        assert self.m.g_teacher is not None
        with torch.no_grad(), self.autocast():
            target = self.m.g_teacher(z)
        return (fake.float() - target.float()).abs().mean()

    # -- steps -----------------------------------------------------------------------------
    def d_step(self, real: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        loss = self.discriminator_loss(real, z)
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        return loss.detach()

    def g_step(self, real: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Leaves G's gradients in place (sparse regrowth reads them); zeroed at the next G step."""
        self.m.d_raw.requires_grad_(False)
        try:
            loss, _ = self.generator_loss(real, z)
            self.opt_g.zero_grad(set_to_none=True)
            loss.backward()
            self.opt_g.step()
        finally:
            self.m.d_raw.requires_grad_(True)
        return loss.detach()

    # -- device-side bookkeeping -------------------------------------------------------------
    def reset_sums(self) -> None:
        self.sums = torch.zeros(2, dtype=torch.float64, device=self.device)  # (sum L_D, sum L_G)
        self.count = 0

    def record(self, step: int, loss_d: torch.Tensor, loss_g: torch.Tensor) -> None:
        """Accumulate on the device; remember the first step whose loss is non-finite (no sync)."""
        pair = torch.stack([loss_d.double(), loss_g.double()])
        self.sums += pair
        self.count += 1
        bad = (~torch.isfinite(pair).all()) & (self.bad_step < 0)
        self.bad_step = torch.where(bad, torch.full_like(self.bad_step, step), self.bad_step)

    def first_bad_step(self) -> int | None:
        """One host sync: the step at which a loss first went NaN/Inf, if any."""
        bad = int(self.bad_step.item())
        return None if bad < 0 else bad

    def means(self) -> tuple[float, float]:
        s = self.sums.tolist()
        n = max(self.count, 1)
        return s[0] / n, s[1] / n
