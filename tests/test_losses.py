"""Losses against direct double-loop NumPy computations; bound schedules step by step."""

import math

import numpy as np
import pytest
import torch

from ganctl.core.losses import (
    BoundSchedule,
    d_loss,
    dgl_teacher_term,
    g_loss,
    hinge_d_loss,
    hinge_g_loss,
    mmd_d_loss,
    mmd_g_loss,
    ns_d_loss,
    ns_g_loss,
)
from ganctl.errors import UsageError


def _k(u, v, sigma=1.0):
    return math.exp(-np.sum((u - v) ** 2) / (2 * sigma**2))


def _loop_d(a, b, b_l, b_u, lam, sigma=1.0):
    m, n = len(a), len(b)
    rr = sum(
        math.exp(-min(np.sum((a[i] - a[j]) ** 2), b_u) / (2 * sigma**2))
        for i in range(m)
        for j in range(m)
        if i != j
    ) / (m * (m - 1))
    ff = sum(
        math.exp(-max(np.sum((b[i] - b[j]) ** 2), b_l) / (2 * sigma**2))
        for i in range(n)
        for j in range(n)
        if i != j
    ) / (n * (n - 1))
    mod = sum(
        math.sqrt(max(np.sum(np.abs(b[i] - b[j])), b_l)) for i in range(n) for j in range(n) if i != j
    ) / (n * (n - 1))
    return rr - ff + lam * mod


def _loop_g(a, b, sigma=1.0):
    m, n = len(a), len(b)
    rr = sum(_k(a[i], a[j], sigma) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    ff = sum(_k(b[i], b[j], sigma) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    rf = sum(_k(a[i], b[j], sigma) for i in range(m) for j in range(n)) / (m * n)
    return rr + ff - 2 * rf


@pytest.mark.parametrize(
    "b_l,b_u,lam,sigma,spread",
    [
        (0.25, 4.0, 1e-4, 1.0, 1.0),
        (0.25, 4.0, 0.0, 1.0, 0.3),
        (1.0, 2.0, 0.5, 1.0, 1.0),
        (0.5, 16.0, 1e-2, 2.0, 2.0),
    ],
)
def test_mmd_d_loss_matches_double_loop(b_l, b_u, lam, sigma, spread):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(12, 16)) * spread
    b = rng.normal(size=(12, 16)) * spread * 0.4
    got = mmd_d_loss(torch.tensor(a), torch.tensor(b), b_l=b_l, b_u=b_u, modified_weight=lam, sigma=sigma)
    assert got.dtype == torch.float32
    assert got.item() == pytest.approx(_loop_d(a, b, b_l, b_u, lam, sigma), rel=1e-5, abs=1e-6)


def test_bounds_actually_bind():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(8, 4)) * 3  # real pairs mostly beyond b_u
    b = rng.normal(size=(8, 4)) * 0.05  # fake pairs mostly below b_l
    bounded = mmd_d_loss(torch.tensor(a), torch.tensor(b), 0.25, 4.0, 0.0).item()
    assert bounded == pytest.approx(_loop_d(a, b, 0.25, 4.0, 0.0), rel=1e-5)
    assert bounded != pytest.approx(_loop_d(a, b, 0.0, 1e9, 0.0), rel=1e-3)


@pytest.mark.parametrize("m,n", [(10, 10), (7, 11)])
def test_mmd_g_loss_matches_double_loop(m, n):
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(m, 16)), rng.normal(size=(n, 16)) + 0.3
    got = mmd_g_loss(torch.tensor(a), torch.tensor(b)).item()
    assert got == pytest.approx(_loop_g(a, b), rel=1e-5, abs=1e-7)
    s = mmd_g_loss(torch.tensor(a), torch.tensor(b), sqrt=True).item()
    assert s == pytest.approx(math.sqrt(max(_loop_g(a, b), 0)), rel=1e-5)
    assert mmd_g_loss(torch.tensor(a), torch.tensor(b), sigma=2.0).item() == pytest.approx(
        _loop_g(a, b, 2.0), rel=1e-5, abs=1e-7
    )


def test_fp32_under_autocast_and_gradients():
    a = torch.randn(6, 16).bfloat16()
    b = torch.randn(6, 16, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = mmd_d_loss(a, b) + mmd_g_loss(a, b)
    assert loss.dtype == torch.float32
    loss.backward()
    assert torch.isfinite(b.grad).all()


def test_hinge_and_ns_values():
    r = torch.tensor([[2.0], [0.5], [-1.0]])
    f = torch.tensor([[-2.0], [0.0], [1.5]])
    assert hinge_d_loss(r, f).item() == pytest.approx((0 + 0.5 + 2) / 3 + (0 + 1 + 2.5) / 3)
    assert hinge_g_loss(r, f).item() == pytest.approx(-(-2 + 0 + 1.5) / 3)
    sp = lambda x: math.log1p(math.exp(x))  # noqa: E731
    assert ns_d_loss(r, f).item() == pytest.approx(
        np.mean([sp(-2), sp(-0.5), sp(1)]) + np.mean([sp(-2), sp(0), sp(1.5)]), rel=1e-6
    )
    assert ns_g_loss(r, f).item() == pytest.approx(np.mean([sp(2), sp(0), sp(-1.5)]), rel=1e-6)


def test_dispatch_and_dgl_term():
    a, b = torch.randn(5, 16), torch.randn(5, 16)
    assert d_loss("mmd", a, b, b_u=8.0).item() == pytest.approx(mmd_d_loss(a, b, b_u=8.0).item())
    assert g_loss("hinge", None, b[:, :1]).item() == pytest.approx(-b[:, 0].mean().item(), rel=1e-6)
    assert dgl_teacher_term("mmd", a, b, alpha=0.1).item() == pytest.approx(
        0.1 * mmd_g_loss(a, b).item(), rel=1e-6
    )
    with pytest.raises(UsageError, match="unknown loss 'wgan'"):
        d_loss("wgan", a, b)


def test_saturate_schedule_and_state_round_trip():
    s = BoundSchedule("saturate", initial=4.0, cap=16.0, patience=2, factor=2.0)
    seq = [10.0, 9.0, 9.5, 9.2, 8.0, 8.5, 8.1, 8.3, 8.2, 8.9, 9.9]
    out = [s.update(m) for m in seq]
    assert out == [4, 4, 4, 8, 8, 8, 16, 16, 16, 16, 16]
    t = BoundSchedule()
    t.load_state_dict(s.state_dict())
    assert t.state_dict() == s.state_dict()
    assert t.update(7.0) == s.update(7.0)


def test_saturate_linear_linear_and_fixed():
    s = BoundSchedule("saturate-linear", initial=4.0, cap=10.0, patience=1, increment=4.0)
    assert [s.update(1.0), s.update(2.0), s.update(2.0), s.update(2.0)] == [4.0, 8.0, 10.0, 10.0]
    lin = BoundSchedule("linear", initial=4.0, cap=64.0, total_updates=4)
    vals = [lin.update() for _ in range(5)]
    np.testing.assert_allclose(vals, [8.0, 16.0, 32.0, 64.0, 64.0])
    fixed = BoundSchedule("fixed", initial=4.0)
    assert [fixed.update(x) for x in (3.0, 5.0, 6.0)] == [4.0, 4.0, 4.0]
    with pytest.raises(UsageError, match="unknown bound schedule"):
        BoundSchedule("cosine")


# ---------------------------------------------------------------- exact numerics under an offset (issue #11)
def _f64_mmd(real: torch.Tensor, fake: torch.Tensor, b_l=0.25, b_u=4.0, lam=1e-4):
    """Float64 D and G losses with the pairwise terms written out with explicit differences."""
    a, b = real.double(), fake.double()
    m = a.shape[0]
    off = ~torch.eye(m, dtype=torch.bool)
    daa = ((a[:, None] - a[None]) ** 2).sum(-1)
    dbb = ((b[:, None] - b[None]) ** 2).sum(-1)
    dab = ((a[:, None] - b[None]) ** 2).sum(-1)
    l1 = (b[:, None] - b[None]).abs().sum(-1)
    d = (
        torch.exp(-0.5 * daa.clamp(max=b_u))[off].mean()
        - torch.exp(-0.5 * dbb.clamp(min=b_l))[off].mean()
        + lam * torch.sqrt(l1.clamp(min=b_l))[off].mean()
    )
    g = torch.exp(-0.5 * daa)[off].mean() + torch.exp(-0.5 * dbb)[off].mean() - 2 * torch.exp(-0.5 * dab).mean()
    return d, g


@pytest.mark.parametrize("offset", [0.0, 100.0, 1000.0])
def test_mmd_losses_and_gradients_are_exact_under_a_common_offset(offset: float) -> None:
    gen = torch.Generator().manual_seed(0)
    # D outputs as a trained D might give them: spread ~0.5 around a large common offset
    real32 = (torch.randn(32, 16, generator=gen) * 0.5 + offset).requires_grad_(True)
    fake32 = (torch.randn(32, 16, generator=gen) * 0.5 + 0.3 + offset).requires_grad_(True)
    real64 = real32.detach().double().requires_grad_(True)
    fake64 = fake32.detach().double().requires_grad_(True)
    d64, g64 = _f64_mmd(real64, fake64)
    gd64 = torch.autograd.grad(d64, (real64, fake64), retain_graph=True)
    gg64 = torch.autograd.grad(g64, (real64, fake64))
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the maths stays fp32 under autocast
        d32 = mmd_d_loss(real32, fake32)
        g32 = mmd_g_loss(real32, fake32)
    assert d32.dtype == g32.dtype == torch.float32
    gd32 = torch.autograd.grad(d32, (real32, fake32), retain_graph=True)
    gg32 = torch.autograd.grad(g32, (real32, fake32))
    assert abs(d32.item() - d64.item()) < 1e-6
    assert abs(g32.item() - g64.item()) < 1e-6
    for ours, ref in zip(gd32 + gg32, gd64 + gg64, strict=True):
        assert torch.allclose(ours.double(), ref, atol=1e-7, rtol=1e-4)
    # the same losses are shift-invariant: the offset changes nothing beyond rounding
    if offset:
        d0 = mmd_d_loss(real32.detach() - offset, fake32.detach() - offset)
        assert abs(d0.item() - d32.item()) < 1e-6


def test_gram_form_would_fail_the_offset_test() -> None:
    """Why the test above can fail: ‖a‖²+‖b‖²−2a·b in fp32 at offset 1000 misses the fp64 value."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(32, 16, generator=gen) * 0.5 + 1000.0
    gram = ((a * a).sum(1, keepdim=True) + (a * a).sum(1) - 2 * a @ a.t()).clamp_min(0)
    exact = ((a.double()[:, None] - a.double()[None]) ** 2).sum(-1)
    assert (gram.double() - exact).abs().max() > 1.0
