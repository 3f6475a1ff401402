"""Metric maths on features: FID, KID (fp64, ours), IS and precision/recall (torch-fidelity's).

Features come in as fp32 tensors (N×D); everything that sums or factorises runs in fp64 so the
result does not depend on batch size or feature order beyond rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch_fidelity.metric_isc import isc_features_to_metric
from torch_fidelity.metric_prc import prc_features_to_metric

from ganctl.errors import UsageError

KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
IS_SPLITS = 10
PR_NEIGHBOURHOOD = 3
METRIC_RNG_SEED = 2020  # torch-fidelity's default, so IS/KID subsets match its own runs


@dataclass
class GaussianStats:
    """Mean and covariance of features (fp64) and how many samples they came from."""

    mu: np.ndarray
    sigma: np.ndarray
    count: int


def feature_stats(features: torch.Tensor | np.ndarray) -> GaussianStats:
    """Mean and unbiased covariance in fp64 (np.cov convention, rowvar=False)."""
    f = np.asarray(
        features.cpu().numpy() if isinstance(features, torch.Tensor) else features, dtype=np.float64
    )
    if f.ndim != 2 or f.shape[0] < 2:
        raise UsageError(f"need at least 2 feature vectors for statistics, got shape {f.shape}")
    mu = f.mean(axis=0)
    centred = f - mu
    sigma = centred.T @ centred / (f.shape[0] - 1)
    return GaussianStats(mu=mu, sigma=sigma, count=int(f.shape[0]))


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T


def frechet_distance(a: GaussianStats, b: GaussianStats) -> float:
    """||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a S_b)^1/2).

    tr((S_a S_b)^1/2) = sum sqrt(eig(S_a^1/2 S_b S_a^1/2)): the inner matrix is symmetric PSD, so
    eigh is stable and real, unlike sqrtm of the non-symmetric product.
    """
    if a.mu.shape != b.mu.shape:
        raise UsageError(f"feature sizes differ: {a.mu.shape[0]} vs {b.mu.shape[0]} (different extractors?)")
    root_a = _sqrt_psd(a.sigma)
    inner = root_a @ b.sigma @ root_a
    eig = np.linalg.eigvalsh((inner + inner.T) / 2)
    tr_covmean = float(np.sqrt(np.clip(eig, 0.0, None)).sum())
    diff = a.mu - b.mu
    return float(diff @ diff + np.trace(a.sigma) + np.trace(b.sigma) - 2.0 * tr_covmean)


def _poly_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def _mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    m = x.shape[0]
    k_xx, k_yy, k_xy = _poly_kernel(x, x), _poly_kernel(y, y), _poly_kernel(x, y)
    sum_xx = k_xx.sum() - np.trace(k_xx)
    sum_yy = k_yy.sum() - np.trace(k_yy)
    return float((sum_xx + sum_yy) / (m * (m - 1)) - 2.0 * k_xy.sum() / (m * m))


def kernel_inception_distance(
    gen: torch.Tensor | np.ndarray,
    real: torch.Tensor | np.ndarray,
    subsets: int = KID_SUBSETS,
    subset_size: int = KID_SUBSET_SIZE,
    seed: int = METRIC_RNG_SEED,
) -> dict[str, float]:
    """KID (Binkowski et al.): unbiased MMD² with the cubic polynomial kernel, averaged over subsets.

    The subset size shrinks to the smaller set when there are fewer samples; the size used is returned.
    """
    g = np.asarray(gen.cpu().numpy() if isinstance(gen, torch.Tensor) else gen, dtype=np.float64)
    r = np.asarray(real.cpu().numpy() if isinstance(real, torch.Tensor) else real, dtype=np.float64)
    size = min(subset_size, g.shape[0], r.shape[0])
    if size < 2:
        raise UsageError("KID needs at least 2 samples on each side")
    rng = np.random.RandomState(seed)
    values = np.empty(subsets)
    for i in range(subsets):
        gi = g[rng.choice(g.shape[0], size, replace=False)]
        ri = r[rng.choice(r.shape[0], size, replace=False)]
        values[i] = _mmd2_unbiased(gi, ri)
    return {"mean": float(values.mean()), "std": float(values.std()), "subsets": subsets, "subset_size": size}


def inception_score(
    logits: torch.Tensor, splits: int = IS_SPLITS, seed: int = METRIC_RNG_SEED
) -> dict[str, float]:
    """IS from classifier logits via torch-fidelity (shuffled, `splits` equal chunks, fp64)."""
    if not torch.isfinite(logits).all():
        raise UsageError("Inception Score: the classifier logits are not finite (NaN classification layer?)")
    if logits.shape[0] < splits:
        raise UsageError(f"Inception Score needs at least {splits} samples, got {logits.shape[0]}")
    out = isc_features_to_metric(logits.cpu(), splits=splits, shuffle=True, rng_seed=seed)
    return {"mean": out["inception_score_mean"], "std": out["inception_score_std"], "splits": splits}


def precision_recall(
    gen: torch.Tensor,
    real: torch.Tensor,
    neighbourhood: int = PR_NEIGHBOURHOOD,
    batch_size: int = 10000,
    device: torch.device | str = "cpu",
) -> dict[str, float]:
    """Improved precision/recall (Kynkäänniemi et al.) via torch-fidelity, k-NN balls in feature space.

    The pairwise distances (N×N) run on `device`: on a GPU 50k×50k takes seconds, on a CPU minutes.
    """
    n = min(gen.shape[0], real.shape[0])
    if n <= neighbourhood:
        raise UsageError(f"precision/recall needs more than {neighbourhood} samples on each side")
    out = prc_features_to_metric(
        gen.float().to(device),
        real.float().to(device),
        prc_neighborhood=neighbourhood,
        prc_batch_size=batch_size,
        save_cpu_ram=True,
        verbose=False,
    )
    return {
        "precision": float(out["precision"]),
        "recall": float(out["recall"]),
        "f_score": float(out["f_score"]),
        "neighbourhood": neighbourhood,
    }
