"""Reference (real-data) statistics, computed once per dataset content and protocol, cached on disk.

The cache key covers everything that changes the numbers: the data fingerprint (pixel content),
the extractor and its weights hash, how many reference images and which subset, and how the
resolution is handled. A stale entry is therefore impossible by construction, not by naming.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from ganctl.data.cache import cache_root
from ganctl.errors import UsageError
from ganctl.evaluate.extractors import Extractor, extract_features
from ganctl.evaluate.stats import GaussianStats, feature_stats
from ganctl.io.atomic import atomic_target

CACHE_VERSION = 1


class ImageDataLike(Protocol):
    images: torch.Tensor  # uint8 N×3×H×W on the CPU
    name: str
    fingerprint: str


@dataclass
class ReferenceStats:
    """Gaussian statistics of the reference set, its features when asked for (KID, PR), and a record."""

    stats: GaussianStats
    features: torch.Tensor | None
    record: dict[str, Any]


def stats_dir() -> Path:
    return cache_root() / "stats"


def reference_indices(total: int, num_images: int | None, subset_seed: int) -> torch.Tensor | None:
    """None for "all images"; else a seeded subset kept in data order (representative across classes)."""
    if num_images is None or num_images >= total:
        return None
    if num_images <= 1:
        raise UsageError(f"number of reference images must be at least 2, got {num_images}")
    gen = torch.Generator().manual_seed(int(subset_seed))
    return torch.randperm(total, generator=gen)[:num_images].sort().values


def reference_key(data: ImageDataLike, extractor: Extractor, count: int, subset_seed: int | None) -> str:
    fields = {
        "version": CACHE_VERSION,
        "fingerprint": data.fingerprint,
        "shape": list(data.images.shape[1:]),
        "extractor": extractor.name,
        "weights_sha256": extractor.weights_sha256,
        "count": count,
        "subset_seed": subset_seed,
        "resolution_handling": extractor.resolution_handling,
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:24]


def _save_npz(path: Path, **arrays: np.ndarray) -> None:
    with atomic_target(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_target(path) as tmp, open(tmp, "wb") as f:
        np.save(f, array)


def _load_cached(
    stats_path: Path, feats_path: Path, need_features: bool, count: int
) -> tuple[GaussianStats, torch.Tensor | None] | None:
    """The cached entry, or None when absent, unreadable or incomplete (it is then recomputed)."""
    try:
        with np.load(stats_path, allow_pickle=False) as z:
            stats = GaussianStats(
                mu=z["mu"].astype(np.float64), sigma=z["sigma"].astype(np.float64), count=int(z["count"])
            )
        feats = None
        if need_features:
            feats = torch.from_numpy(np.load(feats_path, allow_pickle=False))
            if feats.shape[0] != count:
                return None
    except (OSError, KeyError, ValueError):
        return None
    return (stats, feats) if stats.count == count else None


def reference_stats(  # size: keyword interface that evaluate, train's in-loop FID and bench call by name
    data: ImageDataLike,
    extractor: Extractor,
    num_images: int | None = None,
    *,
    device: torch.device | str = "cpu",
    batch_size: int = 250,
    need_features: bool = False,
    use_cache: bool = True,
    subset_seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> ReferenceStats:
    """Statistics of `data` (all images, or a seeded subset of `num_images`) under a built `extractor`.

    The cached file holds mu/sigma (fp64); features (fp32) are cached beside it only when a metric
    needs them (KID, PR), since they are large (50k×2048 fp32 ≈ 400 MB). `progress(done, total)` is
    called after each batch of images.
    """
    total = int(data.images.shape[0])
    if total < 2:
        raise UsageError(f"dataset {data.name!r} has {total} image(s); reference statistics need at least 2")
    if batch_size <= 0:
        raise UsageError(f"batch size must be positive, got {batch_size}")
    indices = reference_indices(total, num_images, subset_seed)
    record = _record(data, extractor, total if indices is None else int(indices.numel()),
                     None if indices is None else subset_seed)
    count, stats_path = record["count"], Path(record["path"])
    feats_path = stats_path.with_name(f"{record['key']}.features.npy")
    cached = _load_cached(stats_path, feats_path, need_features, count) if use_cache else None
    if cached is not None:
        return ReferenceStats(stats=cached[0], features=cached[1], record={**record, "cache_hit": True})

    def batches():
        for start in range(0, count, batch_size):
            if indices is None:
                yield data.images[start : start + batch_size]
            else:
                yield data.images.index_select(0, indices[start : start + batch_size])
            if progress is not None:
                progress(min(start + batch_size, count), count)

    feats = extract_features(extractor, batches(), device).features
    stats = feature_stats(feats)
    if use_cache:
        _save_npz(stats_path, mu=stats.mu, sigma=stats.sigma, count=np.int64(count),
                  meta=np.array(json.dumps(record)))
        if need_features:
            _save_npy(feats_path, feats.numpy())
    return ReferenceStats(
        stats=stats, features=feats if need_features else None, record={**record, "cache_hit": False}
    )


def _record(data: ImageDataLike, extractor: Extractor, count: int, subset_seed: int | None) -> dict[str, Any]:
    """What identifies a reference (its cache key's inputs) and where its statistics live."""
    key = reference_key(data, extractor, count, subset_seed)
    return {
        "dataset": data.name,
        "fingerprint": data.fingerprint,
        "count": count,
        "subset_seed": subset_seed,
        "extractor": extractor.name,
        "weights_sha256": extractor.weights_sha256,
        "resolution": list(data.images.shape[2:]),
        "resolution_handling": extractor.resolution_handling,
        "key": key,
        "path": str(stats_dir() / f"{key}.npz"),
    }
