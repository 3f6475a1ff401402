"""AdversarialNAS with the MMD loss (methods §4.2): G and D supernets searched against each other.

One iteration: D-architecture step, D-weight step; every n_critic iterations a G-architecture step
and a G-weight step. Each step draws fresh Gumbel weights (or plain softmax) at the current τ.
The architecture objective (`arch_loss`) may differ from the weight objective (`loss`).
D is frozen (no weight or α gradients are computed) in the G steps, and each architecture step freezes the
weights of the network whose α it trains (only the α gradients it uses are computed). With ``split_batch`` each real
batch is split in halves, one for the architecture steps and one for the weight steps, each with its
own noise, as the seed paper's search does (Pulakurthi et al., MMD-PMish-NAS).
"""
from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import torch

from ganctl.core.losses import d_loss, g_loss
from ganctl.data import BatchStream, ImageData
from ganctl.nn.ops import DOWN_OPS, NORMAL_OPS, UP_OPS
from ganctl.search.config import SearchConfig
from ganctl.search.derive import (
    build_genotype,
    derive_discriminator_cells,
    derive_generator_cells,
    group_by_cell,
)
from ganctl.search.fastpath import FastPath
from ganctl.search.supernet import PAPER_DIS_DOWNSAMPLE, SuperDiscriminator, SuperGenerator, frozen
from ganctl.search.temperature import epoch_temperature, temperature

SEARCH_SPACE = "adversarialnas"


def _adam(params: list[torch.nn.Parameter], lr: float, betas: tuple[float, float], wd: float = 0.0
          ) -> torch.optim.Adam:
    return torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=wd)


class AdversarialNAS:
    """The search state (nets, α, optimisers, data stream) and one `step` of it."""

    def __init__(self, cfg: SearchConfig, data: ImageData, device: torch.device, fast: FastPath):
        self.cfg, self.device, self.fast = cfg, device, fast
        self.up_ops = tuple(cfg.up_ops) if cfg.up_ops else UP_OPS
        self.G = SuperGenerator(cfg.resolution, cfg.width, cfg.latent_dim, self.up_ops, NORMAL_OPS,
                                act=cfg.act_g, alpha_std=cfg.alpha_init_std).to(device)
        paper_d = cfg.d_topology == "paper"
        d_kw = {"downsample": PAPER_DIS_DOWNSAMPLE, "stem": False} if paper_d else {}
        self.D = SuperDiscriminator(cfg.d_width, cfg.d_out_dim, NORMAL_OPS, DOWN_OPS,
                                    alpha_std=cfg.alpha_init_std, **d_kw).to(device)
        fast.prepare(self.G, self.D)
        self.opt_g = _adam(self.G.weight_parameters(), cfg.lr_g, (cfg.beta1, cfg.beta2))
        self.opt_d = _adam(self.D.weight_parameters(), cfg.lr_d, (cfg.beta1, cfg.beta2))
        self.arch_g = _adam(self.G.arch_parameters(), cfg.arch_lr, cfg.arch_betas, cfg.arch_weight_decay)
        self.arch_d = _adam(self.D.arch_parameters(), cfg.arch_lr, cfg.arch_betas, cfg.arch_weight_decay)
        self.stream = BatchStream(data, cfg.batch_size, device, seed=cfg.seed)
        self.g_forward = fast.compiled(self.G)
        self.d_forward = fast.compiled(self.D)
        self._mmd_kw = {"b_l": cfg.bound_lower, "b_u": cfg.bound_upper,
                        "modified_weight": cfg.mmd_modified_weight}

    # -- losses (fp32, outside autocast: ganctl.core.losses casts) -------------------------------------------
    def _d_loss(self, name: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return d_loss(name, real, fake, **(self._mmd_kw if name == "mmd" else {}))

    def _z(self, n: int | None = None) -> torch.Tensor:
        return torch.randn(n or self.cfg.batch_size, self.cfg.latent_dim, device=self.device)

    def _tau(self, step: int) -> float:
        cfg = self.cfg
        if cfg.tau_epoch_steps:
            return epoch_temperature(step, cfg.tau_epoch_steps, cfg.steps, cfg.tau_start, cfg.tau_end)
        return temperature(step, cfg.steps, cfg.tau_start, cfg.tau_end)

    def _fake(self, n: int, tau: float) -> torch.Tensor:
        with torch.no_grad(), self.fast.autocast():
            return self.g_forward(self._z(n), self.G.mix(tau, self.cfg.gumbel)).detach()

    def step(self, step: int) -> dict[str, Any]:
        cfg, tau = self.cfg, self._tau(step)
        real = self.fast.images(self.stream.next())
        stats: dict[str, Any] = {"tau": tau}
        if cfg.split_batch:  # architecture half, weight half; each step draws its own noise
            half = real.shape[0] // 2
            reals = {"arch": real[:half], "weights": real[half:]}
            fakes = {k: self._fake(v.shape[0], tau) for k, v in reals.items()}
        else:
            reals = {"arch": real, "weights": real}
            fake = self._fake(real.shape[0], tau)
            fakes = {"arch": fake, "weights": fake}
        for name, opt, loss_name, part in (("arch_d", self.arch_d, cfg.effective_arch_loss(), "arch"),
                                           ("loss_d", self.opt_d, cfg.loss, "weights")):
            self.D.zero_grad(set_to_none=True)
            # the architecture step trains α only: D's weights are frozen, so no weight gradient is computed
            with frozen(self.D.weight_parameters()) if part == "arch" else nullcontext():
                with self.fast.autocast():
                    w = self.D.mix(tau, cfg.gumbel)
                    if part == "weights":  # α is not trained here: no gradient for it
                        w = {k: v.detach() for k, v in w.items()}
                    out_real, out_fake = self.d_forward(torch.cat([reals[part], fakes[part]]), w).chunk(2)
                loss = self._d_loss(loss_name, out_real, out_fake)
                loss.backward()
            opt.step()
            stats[name] = loss.detach()
        if (step + 1) % cfg.n_critic == 0:
            self.D.requires_grad_(False)  # frozen: the G steps compute no D weight or α gradients
            try:
                for name, opt, loss_name, part in (("arch_g", self.arch_g, cfg.effective_arch_loss(), "arch"),
                                                   ("loss_g", self.opt_g, cfg.loss, "weights")):
                    stats[name] = self._g_step(opt, loss_name, reals[part], tau, arch=part == "arch")
            finally:
                self.D.requires_grad_(True)
        self.D.zero_grad(set_to_none=True)
        return stats

    def _g_step(self, opt: torch.optim.Optimizer, loss_name: str, real: torch.Tensor, tau: float, arch: bool
                ) -> torch.Tensor:
        self.G.zero_grad(set_to_none=True)
        # the architecture step trains G's α only: G's weights are frozen, so no weight gradient is computed
        with frozen(self.G.weight_parameters()) if arch else nullcontext():
            with self.fast.autocast():
                w_d = self.D.mix(tau, self.cfg.gumbel)
                z = self._z(real.shape[0])
                w_g = self.G.mix(tau, self.cfg.gumbel)
                if not arch:  # the weight step trains no α
                    w_g = {k: v.detach() for k, v in w_g.items()}
                fake = self.g_forward(z, w_g)
                out_fake = self.d_forward(fake, w_d)
                with torch.no_grad():
                    out_real = self.d_forward(real, w_d) if loss_name == "mmd" else None
            loss = g_loss(loss_name, out_real, out_fake)
            loss.backward()
        opt.step()
        return loss.detach()

    # -- derivation and state ------------------------------------------------------------------------
    def genotype(self, provenance: dict[str, Any]):
        g_probs, d_probs = group_by_cell(self.G.probabilities()), group_by_cell(self.D.probabilities())
        g_names, d_names = group_by_cell(self.G.op_names), group_by_cell(self.D.op_names)
        ops = {"up": list(self.up_ops), "normal": list(NORMAL_OPS), "down": list(DOWN_OPS)}
        return build_genotype(SEARCH_SPACE, ops, derive_generator_cells(g_probs, g_names),
                              derive_discriminator_cells(d_probs, d_names, self.D.downsample), provenance)

    def supernets(self) -> dict[str, Any]:
        return {"generator": self.G, "discriminator": self.D}

    def state_dict(self) -> dict[str, Any]:
        return {"G": self.G.state_dict(), "D": self.D.state_dict(), "opt_g": self.opt_g.state_dict(),
                "opt_d": self.opt_d.state_dict(), "arch_g": self.arch_g.state_dict(),
                "arch_d": self.arch_d.state_dict(), "stream": self.stream.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        for name in ("opt_g", "opt_d", "arch_g", "arch_d"):
            getattr(self, name).load_state_dict(state[name])
        self.stream.load_state_dict(state["stream"])
