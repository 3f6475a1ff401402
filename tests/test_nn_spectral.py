"""SN-family parametrization: σ estimates against exact spectral norms, modes, persistence, autocast."""

import pytest
import torch
from torch import nn

from ganctl.errors import SpecError
from ganctl.nn.spectral import effective_weight, spectral_norm, spectral_parametrization


def _exact(module):
    w = module.parametrizations.weight.original.detach().double()
    if isinstance(module, nn.ConvTranspose2d):
        w = w.transpose(0, 1)  # -> (C_out, C_in, k, k)
    s1 = torch.linalg.matrix_norm(w.reshape(w.shape[0], -1), ord=2)
    s2 = torch.linalg.matrix_norm(w.transpose(0, 1).reshape(w.shape[1], -1), ord=2)
    return s1.item(), s2.item()


LAYERS = [lambda: nn.Conv2d(6, 10, 3), lambda: nn.ConvTranspose2d(6, 10, 3), lambda: nn.Linear(7, 12)]


@pytest.mark.parametrize("make", LAYERS)
def test_bssn_sigmas_converge_to_exact_norms(make):
    torch.manual_seed(0)
    m = spectral_norm(make(), "bssn", scale=1.7)
    p = spectral_parametrization(m)
    p.power_iteration(m.parametrizations.weight.original, 500)
    s1, s2 = p.sigmas(m.parametrizations.weight.original)
    e1, e2 = _exact(m)
    assert s1.item() == pytest.approx(e1, rel=1e-4)
    assert s2.item() == pytest.approx(e2, rel=1e-4)
    expected = 1.7 * m.parametrizations.weight.original / ((e1 + e2) / 2)
    torch.testing.assert_close(effective_weight(m), expected.detach(), rtol=1e-4, atol=1e-6)


def test_conv_transpose_uses_its_own_layout():
    # (C_in=4, C_out=9, k=1): output-major matrix is 9x4, so u1 has 9 entries
    m = spectral_norm(nn.ConvTranspose2d(4, 9, 1), "bsn")
    p = spectral_parametrization(m)
    assert p.u1.shape == (9,) and p.v1.shape == (4,) and p.u2.shape == (4,) and p.v2.shape == (9,)


@pytest.mark.parametrize(
    "mode,scale,bidir", [("sn", 1.0, False), ("ssn", 2.0, False), ("bsn", 1.0, True), ("bssn", 0.7, True)]
)
def test_modes_after_convergence(mode, scale, bidir):
    torch.manual_seed(1)
    m = spectral_norm(nn.Conv2d(5, 8, 3), mode, scale)
    spectral_parametrization(m).power_iteration(m.parametrizations.weight.original, 500)
    e1, e2 = _exact(m)
    sigma = (e1 + e2) / 2 if bidir else e1
    torch.testing.assert_close(
        effective_weight(m), scale * m.parametrizations.weight.original.detach() / sigma, rtol=1e-4, atol=1e-6
    )


def test_one_iteration_per_training_forward_none_in_eval():
    m = spectral_norm(nn.Conv2d(3, 4, 3), "bssn", 1.0)
    p = spectral_parametrization(m)
    x = torch.randn(2, 3, 8, 8)
    m.eval()
    u = p.u1.clone()
    m(x)
    assert torch.equal(u, p.u1)
    m.train()
    w = m.parametrizations.weight.original.detach().float()
    mat = w.reshape(4, -1)
    v_next = torch.nn.functional.normalize(mat.t() @ u, dim=0)
    u_next = torch.nn.functional.normalize(mat @ v_next, dim=0)
    m(x)
    torch.testing.assert_close(p.u1, u_next)


def test_state_dict_round_trip_gives_same_output():
    torch.manual_seed(2)
    a = spectral_norm(nn.Conv2d(3, 4, 3), "bssn", 2.0)
    x = torch.randn(2, 3, 8, 8)
    for _ in range(3):
        a(x)  # advance the vectors
    a.eval()
    state = a.state_dict()
    assert any(k.endswith("u2") for k in state)
    torch.manual_seed(99)
    b = spectral_norm(nn.Conv2d(3, 4, 3), "bssn", 2.0)
    b.load_state_dict(state)
    b.eval()
    torch.testing.assert_close(a(x), b(x))


def test_gradient_flows_and_two_forwards_before_backward():
    m = spectral_norm(nn.Linear(5, 3), "sn")
    x = torch.randn(4, 5)
    loss = m(x).sum() + m(x).sum()
    loss.backward()
    assert m.parametrizations.weight.original.grad is not None


def test_fp32_under_autocast():
    m = spectral_norm(nn.Linear(8, 8), "bssn", 1.0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        m(torch.randn(2, 8))
        s1, _ = spectral_parametrization(m).sigmas(m.parametrizations.weight.original)
    assert s1.dtype == torch.float32 and spectral_parametrization(m).u1.dtype == torch.float32


def test_bad_mode_and_scale():
    with pytest.raises(SpecError, match="unknown spectral-norm mode"):
        spectral_norm(nn.Linear(2, 2), "xsn")
    with pytest.raises(SpecError, match="unscaled"):
        spectral_norm(nn.Linear(2, 2), "sn", 2.0)
    assert spectral_parametrization(spectral_norm(nn.Linear(2, 2), "none")) is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_autocast_bf16_forward():
    m = spectral_norm(nn.Conv2d(3, 4, 3), "bssn", 1.0).cuda()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        y = m(torch.randn(2, 3, 8, 8, device="cuda"))
    assert torch.isfinite(y.float()).all()
    assert spectral_parametrization(m).u1.dtype == torch.float32
