"""PMish / Swish values against their formulas, limits and finite-difference gradients."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganctl.errors import SpecError
from ganctl.nn.activations import PMish, Swish, make_activation, pmish_betas


def _pmish_numpy(x: np.ndarray, beta: float) -> np.ndarray:
    softplus = np.log1p(np.exp(beta * x))
    return x * np.tanh(softplus / beta)


@pytest.mark.parametrize("beta", [0.1, 0.7, 1.0, 2.5, 4.0])
def test_pmish_matches_formula(beta):
    x = torch.randn(500, dtype=torch.float64) * 3
    act = PMish(beta).double()
    stored = act.beta.item()  # float32-rounded β, promoted to float64
    np.testing.assert_allclose(
        act(x).detach().numpy(), _pmish_numpy(x.numpy(), stored), rtol=1e-10, atol=1e-12
    )


def test_pmish_beta_one_is_mish():
    x = torch.randn(1000) * 4
    torch.testing.assert_close(PMish()(x), F.mish(x), rtol=1e-6, atol=1e-6)


def test_pmish_large_beta_approaches_relu_shape():
    x = torch.linspace(-6, 6, 1001, dtype=torch.float64)
    out = PMish(1e4).double()(x)
    torch.testing.assert_close(out, x * torch.tanh(torch.relu(x)), rtol=0, atol=1e-4)


def test_pmish_gradcheck_in_beta_and_x():
    """dβ and dx of the module's own forward match finite differences (float64)."""
    act = PMish().double()
    x = torch.randn(20, dtype=torch.float64, requires_grad=True)
    beta = torch.tensor([1.3], dtype=torch.float64, requires_grad=True)

    def f(inp, b):
        return torch.func.functional_call(act, {"beta": b}, (inp,))

    assert torch.autograd.gradcheck(f, (x, beta))
    assert torch.autograd.gradcheck(f, (x, torch.tensor([0.2], dtype=torch.float64, requires_grad=True)))


def test_pmish_beta_is_positive_guarded_and_learnable():
    act = PMish()
    assert isinstance(act.beta, nn.Parameter) and act.beta.item() == 1.0
    act.beta.data.fill_(-2.0)
    out = act(torch.randn(10))
    assert torch.isfinite(out).all()


def test_swish_formula():
    x = torch.randn(100, dtype=torch.float64)
    s = Swish(1.7).double()
    torch.testing.assert_close(s(x), x * torch.sigmoid(1.7 * x))


def test_make_activation_names_and_unknown():
    assert isinstance(make_activation("pmish"), PMish)
    assert isinstance(make_activation("relu"), nn.ReLU)
    assert isinstance(make_activation("silu"), nn.SiLU)
    assert isinstance(make_activation("mish"), nn.Mish)
    assert isinstance(make_activation("swish"), Swish)
    with pytest.raises(SpecError, match="unknown activation 'gelu'"):
        make_activation("gelu")


def test_pmish_betas_lists_every_layer():
    net = nn.Sequential(PMish(0.5), nn.Linear(2, 2), nn.Sequential(PMish(2.0)))
    assert pmish_betas(net) == {"0": 0.5, "2.0": 2.0}
