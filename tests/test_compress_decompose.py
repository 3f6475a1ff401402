"""Decomposition values: full-rank fits reproduce the layer, parameter counts match the formula."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from ganctl.compress.decompose import (
    DecompositionError,
    decompose_layer,
    factorised_params,
    max_rank,
    parity_rank,
)
from ganctl.errors import UsageError
from ganctl.nn.factorised import num_params


@pytest.fixture(autouse=True)
def _one_thread() -> object:
    """Tiny tensors: OpenMP hand-offs dominate on a shared 2-core box."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


CONVS = {
    "plain": lambda: nn.Conv2d(3, 5, 3, padding=1),
    "strided": lambda: nn.Conv2d(4, 3, 3, stride=2, padding=1),
    "asym": lambda: nn.Conv2d(3, 4, (3, 2), stride=(2, 1), padding=(1, 0), bias=False),
    "dilated": lambda: nn.Conv2d(3, 4, 3, dilation=2, padding=2),
    "valid": lambda: nn.Conv2d(2, 6, 3),
}
TRANSPOSED = {
    "up2": lambda: nn.ConvTranspose2d(4, 3, 4, stride=2, padding=1),
    "outpad": lambda: nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1),
    "dilated": lambda: nn.ConvTranspose2d(3, 3, 3, dilation=2, bias=False),
}


def _check_full_rank(layer: nn.Module, method: str, x: torch.Tensor, tol: float) -> None:
    layer = layer.double()
    fit = decompose_layer(layer, method, max_rank(layer, method), n_iter=1000)
    with torch.no_grad():
        want, got = layer(x), fit.module(x)
    assert got.shape == want.shape
    np.testing.assert_allclose(got.numpy(), want.numpy(), atol=tol, rtol=tol)


@pytest.mark.parametrize("method", ["cp", "tucker"])
@pytest.mark.parametrize("name", list(CONVS))
def test_full_rank_conv2d_reproduces_output(name: str, method: str) -> None:
    torch.manual_seed(0)
    _check_full_rank(
        CONVS[name](), method, torch.randn(2, CONVS[name]().in_channels, 9, 8, dtype=torch.float64), 1e-5
    )


@pytest.mark.parametrize("method", ["cp", "tucker"])
@pytest.mark.parametrize("name", list(TRANSPOSED))
def test_full_rank_conv_transpose_reproduces_output(name: str, method: str) -> None:
    torch.manual_seed(1)
    layer = TRANSPOSED[name]()
    _check_full_rank(layer, method, torch.randn(2, layer.in_channels, 5, 6, dtype=torch.float64), 1e-5)


def test_linear_and_1x1_full_rank_and_truncated_svd_is_optimal() -> None:
    torch.manual_seed(2)
    lin = nn.Linear(6, 4).double()
    _check_full_rank(lin, "cp", torch.randn(3, 6, dtype=torch.float64), 1e-10)
    _check_full_rank(
        nn.Conv2d(5, 3, 1, stride=2), "tucker", torch.randn(1, 5, 6, 6, dtype=torch.float64), 1e-10
    )
    # rank-2 error equals the discarded singular values (Eckart–Young), computed with NumPy
    fit = decompose_layer(lin, "cp", 2)
    w = lin.weight.detach().numpy()
    s = np.linalg.svd(w, compute_uv=False)
    approx = fit.module.parts[1].weight.detach().numpy() @ fit.module.parts[0].weight.detach().numpy()
    assert np.linalg.norm(approx - w) == pytest.approx(np.sqrt((s[2:] ** 2).sum()), rel=1e-8)


@pytest.mark.parametrize("rank", [1, 3, 7])
def test_cp_parameter_count_formula(rank: int) -> None:
    for c_in, c_out, k in [(4, 6, 3), (8, 5, 5)]:
        conv = nn.Conv2d(c_in, c_out, k, padding=k // 2)
        fit = decompose_layer(conv, "cp", rank, n_iter=5)
        assert num_params(fit.module) == rank * (c_in + c_out + 2 * k) + c_out
        assert factorised_params(conv, "cp", rank) == num_params(fit.module)
        convt = nn.ConvTranspose2d(c_in, c_out, k, stride=2)
        assert (
            num_params(decompose_layer(convt, "cp", rank, n_iter=5).module)
            == rank * (c_in + c_out + 2 * k) + c_out
        )


def test_tucker_parameter_count_and_ranks() -> None:
    conv = nn.Conv2d(6, 4, 3)
    fit = decompose_layer(conv, "tucker", [3, 2])
    assert (
        num_params(fit.module) == 6 * 2 + 2 * 3 * 9 + 3 * 4 + 4 == factorised_params(conv, "tucker", [3, 2])
    )
    assert decompose_layer(conv, "tucker", 5).rank == [4, 5]  # an integer rank is clipped per mode


def test_cp_structure_is_real_depthwise_convs_keeping_stride_padding_dilation() -> None:
    conv = nn.Conv2d(3, 4, 3, stride=(2, 1), padding=(1, 2), dilation=(1, 2))
    parts = decompose_layer(conv, "cp", 2, n_iter=5).module.parts
    assert [type(p) for p in parts] == [nn.Conv2d] * 4
    assert parts[1].groups == 2 and parts[1].kernel_size == (3, 1) and parts[1].stride == (2, 1)
    assert parts[1].padding == (1, 0) and parts[1].dilation == (1, 1)
    assert parts[2].kernel_size == (1, 3) and parts[2].padding == (0, 2) and parts[2].dilation == (1, 2)
    assert parts[0].bias is None and torch.equal(parts[3].bias, conv.bias)


def test_spectrally_normalised_layer_uses_effective_weight() -> None:
    torch.manual_seed(3)
    conv = torch.nn.utils.parametrizations.spectral_norm(nn.Conv2d(3, 4, 3, padding=1)).double().eval()
    fit = decompose_layer(conv, "cp", max_rank(conv, "cp"))
    x = torch.randn(1, 3, 6, 6, dtype=torch.float64)
    with torch.no_grad():
        np.testing.assert_allclose(fit.module(x).numpy(), conv(x).numpy(), atol=1e-5)
    assert not any("parametrizations" in n for n, _ in fit.module.named_modules())


def test_rank_bounds_and_failures() -> None:
    conv = nn.Conv2d(4, 3, 3)
    assert max_rank(conv, "cp") == 27 and max_rank(conv, "tucker") == 4
    with pytest.raises(UsageError, match="larger than"):
        decompose_layer(conv, "cp", 28)
    with pytest.raises(UsageError, match="out of range"):
        decompose_layer(conv, "tucker", [4, 4])
    assert parity_rank(conv, "cp") == (4 * 3 * 9 + 3 - 3 - 1) // (4 + 3 + 6)
    bad = nn.Conv2d(2, 2, 3)
    with torch.no_grad():
        bad.weight[0, 0, 0, 0] = float("nan")
    with pytest.raises(DecompositionError):
        decompose_layer(bad, "cp", 2)


def test_failed_fit_retries_at_lower_rank(monkeypatch: pytest.MonkeyPatch) -> None:
    import ganctl.compress.decompose as dec

    real = dec._fit
    seen: list[int] = []

    def flaky(weight, kind, method, rank, n_iter, tol):  # noqa: ANN001, ANN202 - test double
        seen.append(rank)
        factors, core, err = real(weight, kind, method, rank, n_iter, tol)
        return factors, core, float("nan") if rank > 4 else err

    monkeypatch.setattr(dec, "_fit", flaky)
    fit = dec.decompose_layer(nn.Conv2d(4, 4, 3), "cp", 8, n_iter=5)
    assert seen == [8, 6, 4] and fit.rank == 4 and fit.retries == 2
    assert num_params(fit.module) == 4 * (4 + 4 + 6) + 4


def test_cp_fit_recovers_a_low_rank_kernel() -> None:
    """A kernel that truly has CP rank 2 is recovered by the ALS fit at rank 2 (no closed-form start)."""
    torch.manual_seed(4)
    a, b, v, h = torch.randn(5, 2), torch.randn(4, 2), torch.randn(3, 2), torch.randn(3, 2)
    conv = nn.Conv2d(4, 5, 3, padding=1).double()
    with torch.no_grad():
        conv.weight.copy_(torch.einsum("or,cr,ir,jr->ocij", a, b, v, h))
    fit = decompose_layer(conv, "cp", 2, n_iter=500)
    assert fit.rel_error < 1e-6
    x = torch.randn(1, 4, 7, 7, dtype=torch.float64)
    with torch.no_grad():
        np.testing.assert_allclose(fit.module(x).numpy(), conv(x).numpy(), atol=1e-6)


@pytest.mark.parametrize("kw", [
    {"kernel_size": 3, "padding": 1},
    {"kernel_size": (3, 5), "stride": (2, 1), "padding": (1, 2)},
    {"kernel_size": 3, "dilation": 2, "padding": 2, "stride": 2},
    {"kernel_size": 5, "padding": 0},
])
def test_fused_depthwise_equals_the_two_depthwise_convs(kw):
    from ganctl.nn.factorised import CPConv2d

    torch.manual_seed(0)
    layer = CPConv2d(torch.nn.Conv2d(6, 5, **kw), rank=4)
    for p in layer.parameters():
        torch.nn.init.normal_(p)
    x = torch.randn(2, 6, 11, 13)
    assert layer.fuse_depthwise
    torch.testing.assert_close(layer(x), layer.parts(x), rtol=1e-5, atol=1e-5)
