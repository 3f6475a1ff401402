"""AdversarialNAS with the MMD loss (methods §4.2): G and D supernets searched against each other.

One iteration: D-architecture step, D-weight step; every n_critic iterations a G-architecture step
and a G-weight step. Each step draws fresh Gumbel weights (or plain softmax) at the current τ.
The architecture objective (`arch_loss`) may differ from the weight objective (`loss`).
"""
from __future__ import annotations

from typing import Any

import torch

from ganctl.data import BatchStream, ImageData
from ganctl.losses import d_loss, g_loss
from ganctl.nn.ops import DOWN_OPS, NORMAL_OPS, UP_OPS
from ganctl.search.config import SearchConfig
from ganctl.search.derive import (
    build_genotype,
    derive_discriminator_cells,
    derive_generator_cells,
    group_by_cell,
)
from ganctl.search.fastpath import FastPath
from ganctl.search.supernet import SuperDiscriminator, SuperGenerator
from ganctl.search.temperature import temperature

SEARCH_SPACE = "adversarialnas"


def _adam(params: list[torch.nn.Parameter], lr: float, betas: tuple[float, float], wd: float = 0.0
          ) -> torch.optim.Adam:
    return torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=wd)


class AdversarialNAS:
    """The search state (nets, α, optimisers, data stream) and one `step` of it."""

    def __init__(self, cfg: SearchConfig, data: ImageData, device: torch.device, fast: FastPath):
        self.cfg, self.device, self.fast = cfg, device, fast
        self.G = SuperGenerator(cfg.resolution, cfg.width_g, cfg.latent_dim, UP_OPS, NORMAL_OPS,
                                alpha_std=cfg.alpha_init_std).to(device)
        self.D = SuperDiscriminator(cfg.width_d, cfg.d_out_dim, NORMAL_OPS, DOWN_OPS,
                                    alpha_std=cfg.alpha_init_std).to(device)
        fast.prepare(self.G, self.D)
        self.opt_g = _adam(self.G.weight_parameters(), cfg.lr, cfg.betas)
        self.opt_d = _adam(self.D.weight_parameters(), cfg.lr, cfg.betas)
        self.arch_g = _adam(self.G.arch_parameters(), cfg.arch_lr, cfg.arch_betas, cfg.arch_weight_decay)
        self.arch_d = _adam(self.D.arch_parameters(), cfg.arch_lr, cfg.arch_betas, cfg.arch_weight_decay)
        self.stream = BatchStream(data, cfg.batch_size, device, seed=cfg.seed)
        self.g_forward = fast.compiled(self.G)
        self.d_forward = fast.compiled(self.D)
        self._mmd_kw = {"b_l": cfg.mmd_bound_lower, "b_u": cfg.mmd_bound_upper,
                        "modified_weight": cfg.mmd_modified_weight}

    # -- losses (fp32, outside autocast: ganctl.losses casts) -------------------------------------------
    def _d_loss(self, name: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return d_loss(name, real, fake, **(self._mmd_kw if name == "mmd" else {}))

    def _z(self) -> torch.Tensor:
        return torch.randn(self.cfg.batch_size, self.cfg.latent_dim, device=self.device)

    def _tau(self, step: int) -> float:
        return temperature(step, self.cfg.steps, self.cfg.tau_start, self.cfg.tau_end)

    def step(self, step: int) -> dict[str, Any]:
        cfg, tau = self.cfg, self._tau(step)
        real = self.fast.images(self.stream.next())
        stats: dict[str, Any] = {"tau": tau}
        with torch.no_grad(), self.fast.autocast():
            fake = self.g_forward(self._z(), self.G.mix(tau, cfg.gumbel)).detach()
        for name, opt, loss_name in (("arch_d", self.arch_d, cfg.effective_arch_loss()),
                                     ("loss_d", self.opt_d, cfg.loss)):
            self.D.zero_grad(set_to_none=True)
            with self.fast.autocast():
                w = self.D.mix(tau, cfg.gumbel)
                out_real, out_fake = self.d_forward(torch.cat([real, fake]), w).chunk(2)
            loss = self._d_loss(loss_name, out_real, out_fake)
            loss.backward()
            opt.step()
            stats[name] = loss.detach()
        if (step + 1) % cfg.n_critic == 0:
            for name, opt, loss_name in (("arch_g", self.arch_g, cfg.effective_arch_loss()),
                                         ("loss_g", self.opt_g, cfg.loss)):
                self.G.zero_grad(set_to_none=True)
                self.D.zero_grad(set_to_none=True)
                with self.fast.autocast():
                    w_d = {k: v.detach() for k, v in self.D.mix(tau, cfg.gumbel).items()}
                    fake = self.g_forward(self._z(), self.G.mix(tau, cfg.gumbel))
                    out_fake = self.d_forward(fake, w_d)
                    with torch.no_grad():
                        out_real = self.d_forward(real, w_d) if loss_name == "mmd" else None
                loss = g_loss(loss_name, out_real, out_fake)
                loss.backward()
                opt.step()
                stats[name] = loss.detach()
        self.D.zero_grad(set_to_none=True)
        return stats

    # -- derivation and state ------------------------------------------------------------------------
    def genotype(self, provenance: dict[str, Any]):
        g_probs, d_probs = group_by_cell(self.G.probabilities()), group_by_cell(self.D.probabilities())
        g_names, d_names = group_by_cell(self.G.op_names), group_by_cell(self.D.op_names)
        ops = {"up": list(UP_OPS), "normal": list(NORMAL_OPS), "down": list(DOWN_OPS)}
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
