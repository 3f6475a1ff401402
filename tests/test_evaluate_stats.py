"""FID/KID/IS/PR maths against direct NumPy/SciPy computations."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import scipy.special
import torch

from ganctl.errors import UsageError
from ganctl.evaluate.stats import (
    feature_stats,
    frechet_distance,
    inception_score,
    kernel_inception_distance,
    precision_recall,
)


def _features(n: int, d: int, seed: int, shift: float = 0.0) -> np.ndarray:
    rng = np.random.RandomState(seed)
    mix = rng.randn(d, d) / np.sqrt(d)
    return (rng.randn(n, d) @ mix + shift).astype(np.float32)


def _fid_scipy(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64), b.astype(np.float64)
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_stats_match_numpy_cov():
    f = _features(300, 12, 0)
    st = feature_stats(torch.from_numpy(f))
    np.testing.assert_allclose(st.mu, f.astype(np.float64).mean(0), rtol=1e-12)
    np.testing.assert_allclose(st.sigma, np.cov(f.astype(np.float64), rowvar=False), rtol=1e-10, atol=1e-14)
    assert st.count == 300


@pytest.mark.parametrize("shift", [0.0, 0.3, 2.0])
def test_fid_matches_scipy_sqrtm(shift):
    a, b = _features(400, 16, 1), _features(350, 16, 2, shift)
    ours = frechet_distance(feature_stats(a), feature_stats(b))
    assert ours == pytest.approx(_fid_scipy(a, b), rel=1e-7, abs=1e-9)


def test_fid_self_zero_and_monotone_in_noise():
    a = _features(500, 10, 3)
    st = feature_stats(a)
    assert abs(frechet_distance(st, st)) < 1e-9 * np.trace(st.sigma)
    rng = np.random.RandomState(4)
    eps = rng.randn(*a.shape)
    values = [frechet_distance(st, feature_stats(a + s * eps)) for s in (0.05, 0.2, 0.5, 1.0)]
    assert all(x < y for x, y in zip(values[:-1], values[1:], strict=True)), values


def _kid_direct(g: np.ndarray, r: np.ndarray, subsets: int, size: int, seed: int) -> float:
    rng = np.random.RandomState(seed)
    d = g.shape[1]
    out = []
    for _ in range(subsets):
        x = g[rng.choice(len(g), size, replace=False)].astype(np.float64)
        y = r[rng.choice(len(r), size, replace=False)].astype(np.float64)
        k = lambda u, v: (u @ v / d + 1.0) ** 3  # noqa: E731
        xx = sum(k(x[i], x[j]) for i in range(size) for j in range(size) if i != j) / (size * (size - 1))
        yy = sum(k(y[i], y[j]) for i in range(size) for j in range(size) if i != j) / (size * (size - 1))
        xy = sum(k(x[i], y[j]) for i in range(size) for j in range(size)) / (size * size)
        out.append(xx + yy - 2 * xy)
    return float(np.mean(out))


def test_kid_matches_double_loop():
    g, r = _features(60, 6, 5), _features(70, 6, 6, 0.5)
    ours = kernel_inception_distance(g, r, subsets=3, subset_size=20, seed=7)
    assert ours["mean"] == pytest.approx(_kid_direct(g, r, 3, 20, 7), rel=1e-10)
    assert ours["subset_size"] == 20
    # subset shrinks to the smaller set rather than failing
    assert kernel_inception_distance(g[:15], r, subsets=2, subset_size=1000)["subset_size"] == 15


def _is_direct(logits: np.ndarray, splits: int, seed: int) -> float:
    logits = logits[np.random.RandomState(seed).permutation(len(logits))].astype(np.float64)
    p = scipy.special.softmax(logits, axis=1)
    n = len(p)
    scores = []
    for i in range(splits):
        part = p[i * n // splits:(i + 1) * n // splits]
        marginal = part.mean(0)
        kl = np.mean([np.sum(row * (np.log(row) - np.log(marginal))) for row in part])
        scores.append(np.exp(kl))
    return float(np.mean(scores))


def test_inception_score_matches_numpy():
    logits = torch.from_numpy(_features(200, 10, 8) * 3)
    ours = inception_score(logits, splits=10, seed=2020)
    assert ours["mean"] == pytest.approx(_is_direct(logits.numpy(), 10, 2020), rel=1e-9)
    assert 1.0 <= ours["mean"] <= 10.0


def test_inception_score_refuses_nan_logits():
    logits = torch.full((20, 5), float("nan"))
    with pytest.raises(UsageError, match="not finite"):
        inception_score(logits)


def test_precision_recall_matches_brute_force():
    g, r = _features(40, 4, 9), _features(50, 4, 10, 0.7)
    k = 3
    ours = precision_recall(torch.from_numpy(g), torch.from_numpy(r), neighbourhood=k)
    dist = lambda a, b: np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))  # noqa: E731
    radius_r = np.sort(dist(r, r), axis=1)[:, k]  # k-th neighbour, self excluded
    radius_g = np.sort(dist(g, g), axis=1)[:, k]
    precision = np.mean([(dist(g[i:i + 1], r)[0] <= radius_r).any() for i in range(len(g))])
    recall = np.mean([(dist(r[j:j + 1], g)[0] <= radius_g).any() for j in range(len(r))])
    assert ours["precision"] == pytest.approx(precision, abs=1e-6)
    assert ours["recall"] == pytest.approx(recall, abs=1e-6)
