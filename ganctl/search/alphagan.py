"""alphaGAN (methods §4.3): bi-level search of the generator by the duality gap.

Inner level (every iteration): one hinge D-weight step and one G-weight step on the TRAIN split.
Outer level (after every `inner_steps` iterations): `outer_steps` architecture steps on the
VALIDATION split, each minimising DG = V(G_α, D') − V(G'_α, D), where V(G, D) = E[min(0, −1+D(x))]
+ E[min(0, −1−D(G(z)))] is the hinge value, D' = argmax_D V(G_α, ·) and G' = argmin_G V(·, D)
are estimated by `worst_steps` Adam steps on copies started from the current networks. G' shares
α with G (only its weights move), so ∂DG/∂α flows through both terms. D is a fixed SN-ResNet.
D steps call D once on cat(real, fake) (one spectral-norm power iteration, one set of kernels);
wherever G or α learns, the D in use is frozen so no D weight gradients are computed.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ganctl.core.losses import hinge_d_loss, hinge_g_loss
from ganctl.data import BatchStream, ImageData
from ganctl.errors import DataError
from ganctl.models import build_discriminator, discriminator_spec
from ganctl.nn.ops import ALPHAGAN_OPS, ALPHAGAN_UP_OPS, DOWN_OPS
from ganctl.search.derive import build_genotype, derive_generator_cells, group_by_cell
from ganctl.search.fastpath import FastPath
from ganctl.search.supernet import SuperGenerator, frozen
from ganctl.search.temperature import temperature

SEARCH_SPACE = "alphagan"


def split_train_val(data: ImageData, val_fraction: float, batch_size: int, seed: int
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded disjoint split; each part must hold at least one batch."""
    n = len(data)
    n_val = int(round(n * val_fraction))
    if n - n_val < batch_size or n_val < batch_size:
        raise DataError(f"dataset {data.name!r} has {n} images: too small for alphagan's "
                        "train/validation split "
                        f"({val_fraction:.0%} validation) with batch size {batch_size}; it needs at least "
                        f"{max(batch_size / val_fraction, batch_size / (1 - val_fraction)):.0f} images")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return data.images[order[n_val:]].contiguous(), data.images[order[:n_val]].contiguous()


def _joint(d: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One D call on cat(real, fake), split back into (D(real), D(fake))."""
    out = d(torch.cat([real, fake.to(real.dtype)]))
    return out[: real.shape[0]], out[real.shape[0] :]


def hinge_value(out_real: torch.Tensor, out_fake: torch.Tensor) -> torch.Tensor:
    """V(G, D) of the hinge game (D maximises it): −hinge_d_loss."""
    return -hinge_d_loss(out_real, out_fake)


class AlphaGAN:
    def __init__(self, cfg: Any, data: ImageData, device: torch.device, fast: FastPath):
        self.cfg, self.device, self.fast = cfg, device, fast
        train, val = split_train_val(data, cfg.val_fraction, cfg.batch_size, cfg.seed)
        self.n_train, self.n_val = len(train), len(val)
        self.G = SuperGenerator(cfg.resolution, cfg.width, cfg.latent_dim, ALPHAGAN_UP_OPS, ALPHAGAN_OPS,
                                alpha_std=cfg.alpha_init_std).to(device)
        d_spec = discriminator_spec("resnet", width=cfg.d_width, resolution=cfg.resolution,
                                    out_dim=cfg.d_out_dim, norm="sn", init_seed=cfg.seed)
        self.D = build_discriminator(d_spec).to(device)
        # worst-case copies: allocated once, reloaded from the current nets before each estimate
        self.G_worst = SuperGenerator(cfg.resolution, cfg.width, cfg.latent_dim, ALPHAGAN_UP_OPS,
                                      ALPHAGAN_OPS, alpha_std=cfg.alpha_init_std).to(device)
        self.D_worst = build_discriminator(d_spec).to(device)
        fast.prepare(self.G, self.D, self.G_worst, self.D_worst)
        self.opt_g = torch.optim.Adam(self.G.weight_parameters(), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2))
        self.arch_g = torch.optim.Adam(self.G.arch_parameters(), lr=cfg.arch_lr, betas=cfg.arch_betas,
                                       weight_decay=cfg.arch_weight_decay)
        self.stream = BatchStream(train, cfg.batch_size, device, seed=cfg.seed)
        self.val_stream = BatchStream(val, cfg.batch_size, device, seed=cfg.seed + 1)

    def _z(self) -> torch.Tensor:
        return torch.randn(self.cfg.batch_size, self.cfg.latent_dim, device=self.device)

    def _weights(self, tau: float, detach: bool = False) -> dict[str, torch.Tensor]:
        w = self.G.mix(tau, self.cfg.gumbel)
        return {k: v.detach() for k, v in w.items()} if detach else w

    def step(self, step: int) -> dict[str, Any]:
        cfg = self.cfg
        tau = temperature(step, cfg.steps, cfg.tau_start, cfg.tau_end)
        real = self.fast.images(self.stream.next())
        with torch.no_grad(), self.fast.autocast():
            fake = self.G(self._z(), self._weights(tau))
        self.opt_d.zero_grad(set_to_none=True)
        with self.fast.autocast():
            out_real, out_fake = _joint(self.D, real, fake)
        loss_d = hinge_d_loss(out_real, out_fake)
        loss_d.backward()
        self.opt_d.step()
        self.G.zero_grad(set_to_none=True)
        with frozen(self.D):
            with self.fast.autocast():
                out_fake = self.D(self.G(self._z(), self._weights(tau, detach=True)))
            loss_g = hinge_g_loss(None, out_fake)
            loss_g.backward()
        self.opt_g.step()
        self.D.zero_grad(set_to_none=True)
        stats: dict[str, Any] = {"tau": tau, "loss_d": loss_d.detach(), "loss_g": loss_g.detach()}
        if (step + 1) % cfg.inner_steps == 0:
            gaps = [self._arch_step(tau) for _ in range(cfg.outer_steps)]
            stats["duality_gap"] = torch.stack(gaps).mean()
        return stats

    def _worst_d(self, tau: float) -> None:
        """D' ≈ argmax_D V(G_α, D): train a copy of D against the fixed current G."""
        self.D_worst.load_state_dict(self.D.state_dict())
        opt = torch.optim.Adam(self.D_worst.parameters(), lr=self.cfg.lr_d, betas=(self.cfg.beta1, self.cfg.beta2))
        for _ in range(self.cfg.worst_steps):
            real = self.fast.images(self.val_stream.next())
            with torch.no_grad(), self.fast.autocast():
                fake = self.G(self._z(), self._weights(tau, detach=True))
            opt.zero_grad(set_to_none=True)
            with self.fast.autocast():
                loss = -hinge_value(*_joint(self.D_worst, real, fake))
            loss.backward()
            opt.step()

    def _worst_g(self, tau: float) -> None:
        """G' ≈ argmin_G V(G, D): train a copy of G's weights (α fixed) against the fixed current D."""
        self.G_worst.load_state_dict(self.G.state_dict())
        opt = torch.optim.Adam(self.G_worst.weight_parameters(), lr=self.cfg.lr_g,
                               betas=(self.cfg.beta1, self.cfg.beta2))
        with frozen(self.D):
            for _ in range(self.cfg.worst_steps):
                opt.zero_grad(set_to_none=True)
                with self.fast.autocast():
                    out_fake = self.D(self.G_worst(self._z(), self._weights(tau, detach=True)))
                hinge_g_loss(None, out_fake).backward()
                opt.step()

    def _arch_step(self, tau: float) -> torch.Tensor:
        self._worst_d(tau)
        self._worst_g(tau)
        real = self.fast.images(self.val_stream.next())
        self.arch_g.zero_grad(set_to_none=True)
        # only α learns here: every network's weights are frozen, so only ∂DG/∂α is computed
        with frozen(self.D, self.D_worst, self.G.weight_parameters(), self.G_worst.weight_parameters()), \
                self.fast.autocast():
            w = self._weights(tau)
            with torch.no_grad():
                out_real_worst, out_real = self.D_worst(real), self.D(real)
            max_term = hinge_value(out_real_worst, self.D_worst(self.G(self._z(), w)))
            min_term = hinge_value(out_real, self.D(self.G_worst(self._z(), w)))
            gap = max_term - min_term
            gap.backward()
        self.arch_g.step()
        for net in (self.G, self.D, self.G_worst, self.D_worst):
            net.zero_grad(set_to_none=True)
        return gap.detach()

    def genotype(self, provenance: dict[str, Any]):
        cells = derive_generator_cells(group_by_cell(self.G.probabilities()), group_by_cell(self.G.op_names))
        ops = {"up": list(ALPHAGAN_UP_OPS), "normal": list(ALPHAGAN_OPS), "down": list(DOWN_OPS)}
        return build_genotype(SEARCH_SPACE, ops, cells, None,
                              {**provenance, "train_images": self.n_train, "val_images": self.n_val})

    def supernets(self) -> dict[str, Any]:
        return {"generator": self.G}

    def state_dict(self) -> dict[str, Any]:
        return {"G": self.G.state_dict(), "D": self.D.state_dict(), "opt_g": self.opt_g.state_dict(),
                "opt_d": self.opt_d.state_dict(), "arch_g": self.arch_g.state_dict(),
                "stream": self.stream.state_dict(), "val_stream": self.val_stream.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        for name in ("opt_g", "opt_d", "arch_g"):
            getattr(self, name).load_state_dict(state[name])
        self.stream.load_state_dict(state["stream"])
        self.val_stream.load_state_dict(state["val_stream"])
