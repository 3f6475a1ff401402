"""Config, sparse masks, EMA and the DGL gradient, checked against direct computations."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn
from train_standins import StandInD, StandInG

from ganctl.core.ema import EMA
from ganctl.core.sparse import SparseMasks, cosine_drop, erk_densities
from ganctl.core.step import GANStep, StepModules
from ganctl.errors import UsageError
from ganctl.recipe import Recipe
from ganctl.runtime import World
from ganctl.train.config import PRESETS, resolve_config, resume_config


def test_presets_and_overrides():
    cfg = resolve_config("cifar10-large", {"out": "x"})
    assert (cfg.width, cfg.d_width, cfg.batch_size, cfg.latent_dim) == (256, 512, 128, 120)
    assert (cfg.beta1, cfg.beta2, cfg.ema_decay, cfg.mmd_modified_weight) == (0.0, 0.9, 0.999, 1e-4)
    assert (cfg.bound_lower, cfg.bound_upper, cfg.bound_patience, cfg.bound_cap) == (0.25, 4.0, 6, 64.0)
    assert resolve_config("cifar10-small", {}).width == 128
    assert resolve_config("celeba64", {}).batch_size == 64
    over = resolve_config("cifar10-large", {"steps": 10, "width": 64})
    assert over.steps == 10 and over.epochs is None and over.width == 64
    with pytest.raises(UsageError, match="unknown preset 'nope'.*" + ".*".join(PRESETS)):
        resolve_config("nope", {})
    with pytest.raises(UsageError, match="--loss"):
        resolve_config("tiny", {"loss": "wgan"})


def test_resume_config_refuses_changes_unless_allowed():
    saved = resolve_config("tiny", {"out": "a"}).to_dict()
    tiny = PRESETS["tiny"]
    with pytest.raises(UsageError, match=rf"steps \({tiny['steps']} -> 40\), width \({tiny['width']} -> 4\)"):
        resume_config(saved, {"steps": 40, "width": 4}, [])
    cfg = resume_config(saved, {"steps": 40, "out": "b", "device": "cpu"}, ["steps"])
    assert cfg.steps == 40 and cfg.out == "b"


def test_erk_density_total_and_cosine():
    shapes = {"a": (64, 32, 3, 3), "b": (16, 8), "c": (3, 64, 3, 3)}
    dens = erk_densities(shapes, 0.2)
    total = sum(math.prod(s) for s in shapes.values())
    assert sum(dens[k] * math.prod(s) for k, s in shapes.items()) == pytest.approx(0.2 * total)
    raw = {k: sum(s) / math.prod(s) for k, s in shapes.items()}
    assert dens["a"] / dens["c"] == pytest.approx(raw["a"] / raw["c"])  # ERK proportionality
    assert cosine_drop(0, 100, 0.5) == pytest.approx(0.5)
    assert cosine_drop(100, 100, 0.5) == pytest.approx(0.005)
    assert cosine_drop(50, 100, 0.5) == pytest.approx(0.005 + 0.5 * 0.495)


def test_sparse_prune_regrow_exact():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(10, 12), nn.Conv2d(3, 5, 3))
    masks = SparseMasks(net, 0.3, "gradient", torch.Generator().manual_seed(1))
    masks.apply(net)
    counts = {k: int(m.sum()) for k, m in masks.masks.items()}
    for p in net.parameters():
        p.grad = torch.randn_like(p)
    name = "0.weight"
    w = dict(net.named_parameters())[name]
    before = masks.masks[name].clone().numpy().ravel()
    wv, gv = w.detach().numpy().ravel().copy(), w.grad.numpy().ravel().copy()
    k = int(0.25 * before.sum())
    masks.update(net, 0.25)
    after = masks.masks[name].numpy().ravel()
    active = np.flatnonzero(before)
    expect_drop = set(active[np.argsort(np.abs(wv[active]), kind="stable")[:k]])
    inactive = np.flatnonzero(~before)
    expect_grow = set(inactive[np.argsort(-np.abs(gv[inactive]), kind="stable")[:k]])
    assert set(np.flatnonzero(before & ~after)) == expect_drop
    assert set(np.flatnonzero(~before & after)) == expect_grow
    for _ in range(3):
        for p in net.parameters():
            p.grad = torch.randn_like(p)
        masks.update(net, 0.4)
        masks.apply(net)
    assert {k: int(m.sum()) for k, m in masks.masks.items()} == counts  # density holds exactly
    for k2, m in masks.masks.items():
        assert int((dict(net.named_parameters())[k2].detach() != 0).sum()) <= int(m.sum())
    restored = SparseMasks(net, 0.3, "gradient", torch.Generator().manual_seed(9))
    restored.load_state_dict(masks.state_dict())
    assert all(torch.equal(restored.masks[k], masks.masks[k]) for k in masks.masks)
    assert masks.stats()["exploration"] > masks.stats()["density"]


def test_ema_formula():
    torch.manual_seed(0)
    g = StandInG()
    ema = EMA(g, 0.9)
    old = {k: v.clone() for k, v in ema.module.state_dict().items()}
    for p in g.parameters():
        p.data.add_(1.0)
    ema.update(g)
    for k, v in g.state_dict().items():
        torch.testing.assert_close(ema.module.state_dict()[k], 0.9 * old[k] + 0.1 * v)
    # warm-up: at step t the decay is min(decay, (1+t)/(10+t))
    assert ema.decay_at(1) == 2 / 11 and ema.decay_at(100) == 0.9 and ema.decay_at(None) == 0.9
    old = {k: v.clone() for k, v in ema.module.state_dict().items()}
    for p in g.parameters():
        p.data.add_(1.0)
    ema.update(g, step=1)
    for k, v in dict(g.named_parameters()).items():
        torch.testing.assert_close(ema.module.state_dict()[k], (2 / 11) * old[k] + (9 / 11) * v)


def test_dgl_term_changes_gradient_by_alpha_times_teacher_gradient():
    torch.manual_seed(0)
    G, D, T = StandInG(), StandInD(), StandInD(out_dim=3)
    T.requires_grad_(False)
    real, z = torch.rand(6, 3, 8, 8) * 2 - 1, torch.randn(6, 8)
    alpha = 0.37

    def grads(teacher):
        mods = StepModules(G, D, G, G, D, D, teacher)
        step = GANStep(mods, torch.optim.SGD(G.parameters(), 0.0), torch.optim.SGD(D.parameters(), 0.0),
                       Recipe(loss="mmd", bound_lower=0.25, mmd_modified_weight=1e-4, dgl_weight=alpha,
                              precision="fp32"), device=torch.device("cpu"), world=World())
        G.zero_grad()
        loss, _ = step.generator_loss(real, z)
        loss.backward()
        return [p.grad.clone() for p in G.parameters()]

    with_t, without = grads(T), grads(None)
    # independent computation of the teacher term: plain MMD² between teacher outputs, written out here
    G.zero_grad()
    a, b = T(real), T(G(z))

    def k(x, y):
        return torch.exp(-0.5 * torch.cdist(x, y) ** 2)

    m = a.shape[0]
    off = 1 - torch.eye(m)
    mmd2 = (k(a, a) * off).sum() / (m * (m - 1)) + (k(b, b) * off).sum() / (m * (m - 1)) - 2 * k(a, b).mean()
    (alpha * mmd2).backward()
    for gw, g0, p in zip(with_t, without, G.parameters(), strict=True):
        torch.testing.assert_close(gw - g0, p.grad, atol=1e-6, rtol=1e-4)
