"""The paper presets follow the public code's settings; the -fast presets keep ganctl's choices."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganctl.core.ema import EMA
from ganctl.core.step import GANStep, StepModules
from ganctl.errors import UsageError
from ganctl.models import build_discriminator, discriminator_spec
from ganctl.recipe import Recipe
from ganctl.runtime import World
from ganctl.train.config import resolve_config


@pytest.mark.parametrize("name,width", [("cifar10-large", 256), ("cifar10-small", 128)])
def test_paper_presets_are_the_reference_settings(name: str, width: int) -> None:
    cfg = resolve_config(name, {})
    assert (cfg.width, cfg.d_width, cfg.latent_dim, cfg.batch_size) == (width, 512, 120, 128)
    assert (cfg.lr_g, cfg.lr_d, cfg.beta1, cfg.beta2, cfg.n_critic) == (2e-4, 2e-4, 0.0, 0.9, 1)
    assert (cfg.ema_decay, cfg.ema_warmup, cfg.flip, cfg.d_forward) == (0.999, False, False, "separate")
    assert cfg.genotype == "mmd-adversarialnas-cifar10" and cfg.activation == "pmish"
    fast = resolve_config(name + "-fast", {})
    assert (fast.ema_warmup, fast.flip, fast.d_forward) == (True, True, "joint")
    same = {k for k in cfg.to_dict() if k not in ("preset", "ema_warmup", "flip", "d_forward")}
    assert all(getattr(cfg, k) == getattr(fast, k) for k in same)


def test_stl10_presets_and_bad_d_forward() -> None:
    assert resolve_config("stl10", {}).resolution == 48 and resolve_config("stl10", {}).d_forward == "separate"
    assert resolve_config("stl10-fast", {}).d_forward == "joint"
    with pytest.raises(UsageError, match="--d-forward"):
        resolve_config("tiny", {"d_forward": "both"})


def test_ema_without_warmup_uses_the_fixed_decay_from_step_one() -> None:
    g = nn.Linear(3, 2)
    ema = EMA(g, 0.999, warmup=False)
    old = {k: v.clone() for k, v in ema.module.state_dict().items()}
    with torch.no_grad():
        for p in g.parameters():
            p.add_(1.0)
    ema.update(g, step=1)
    for k, v in g.state_dict().items():
        torch.testing.assert_close(ema.module.state_dict()[k], 0.999 * old[k] + 0.001 * v)
    assert EMA(g, 0.999).decay_at(1) == 2 / 11  # the -fast presets' warm-up


class _G(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.l = nn.Linear(4, 3 * 16 * 16)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.l(z)).view(-1, 3, 16, 16)


def _step(d_forward: str, D: nn.Module, G: nn.Module) -> GANStep:
    mods = StepModules(G, D, G, G, D, D)
    return GANStep(mods, torch.optim.SGD(G.parameters(), 0.0), torch.optim.SGD(D.parameters(), 0.0),
                   Recipe(loss="mmd", bound_lower=0.25, mmd_modified_weight=1e-4, dgl_weight=0.0, precision="fp32",
                          d_forward=d_forward), device=torch.device("cpu"), world=World())


def test_separate_d_forward_calls_d_twice_and_matches_joint_without_power_iteration() -> None:
    torch.manual_seed(0)
    G = _G()
    D = build_discriminator(discriminator_spec("resnet", width=8, resolution=16, out_dim=16))
    real, z = torch.rand(6, 3, 16, 16) * 2 - 1, torch.randn(6, 4)
    calls: list[int] = []
    D.register_forward_hook(lambda mod, inp, out: calls.append(inp[0].shape[0]))
    losses = {}
    for mode in ("joint", "separate"):
        calls.clear()
        D.eval()  # no power iteration: both modes must give the same numbers
        losses[mode] = _step(mode, D, G).discriminator_loss(real, z).item()
        assert calls == ([12] if mode == "joint" else [6, 6])
    assert losses["joint"] == pytest.approx(losses["separate"], abs=1e-6)
    # in training mode each D call advances spectral norm's power iteration once
    from ganctl.nn.spectral import spectral_parametrization

    D.train()
    sn = spectral_parametrization(D.linear)
    for mode, iterations in (("joint", 1), ("separate", 2)):
        u = sn.u1.clone()
        _step(mode, D, G).discriminator_loss(real, z)
        expected = u.clone()
        W = D.linear.parametrizations.weight.original.detach()
        for _ in range(iterations):
            v = torch.nn.functional.normalize(W.t() @ expected, dim=0)
            expected = torch.nn.functional.normalize(W @ v, dim=0)
        torch.testing.assert_close(sn.u1, expected)
