"""evaluate_artifacts: generators + data + metric names -> one plain dict (what metrics.json holds).

Generation streams uint8 batches straight into the extractor (no PNGs); reference statistics come
from the content-keyed cache; every value carries its protocol (sample count, reference, extractor,
weights hash, seeds, artifact hash, precision, device, batch size).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

import ganctl
from ganctl.errors import UsageError, WeightsUnavailableError
from ganctl.evaluate.cost import cost_report
from ganctl.evaluate.extractors import (
    HOW_TO_GET_WEIGHTS,
    INCEPTION,
    RANDCONV,
    Extractor,
    build_extractor,
    extract_features,
)
from ganctl.evaluate.generate import PRECISIONS, iter_uint8, resolve_precision
from ganctl.evaluate.protocol import MetricRequest, parse_metrics
from ganctl.evaluate.reference import ImageDataLike, ReferenceStats, reference_stats
from ganctl.evaluate.stats import (
    feature_stats,
    frechet_distance,
    inception_score,
    kernel_inception_distance,
    precision_recall,
)
from ganctl.runtime import resolve_device

Log = Callable[[str], None]
# progress(stage, done, total): called after every batch, so a front end can draw a bar with an ETA
Progress = Callable[[str, int, int], None]
# quick cost: a few timed batches (seconds on a CPU) instead of the full table (minutes for a large G)
QUICK_COST = {"latency_repeats": 3, "throughput_repeats": 2, "max_batch_size": 32}
COST_MODES = ("none", "quick", "full")
_BUILT = "_built_extractor"  # EvalRequest's memo of its resolved extractor (an attribute, not a field)


def counted(batches: Iterable[Any], stage: str, total: int, progress: Progress | None) -> Iterator[Any]:
    """Pass `batches` through, reporting the running image count to `progress` after each one."""
    done = 0
    for batch in batches:
        yield batch
        done += len(batch)
        if progress is not None:
            progress(stage, min(done, total), total)


def cost_mode(cost: bool | str) -> str:
    """True/False (older callers) or one of COST_MODES."""
    mode = {True: "full", False: "none"}.get(cost, cost) if isinstance(cost, bool) else cost
    if mode not in COST_MODES:
        raise UsageError(f"cost {cost!r}: expected one of {', '.join(COST_MODES)}")
    return mode


def _resolve_device(device: torch.device | str) -> torch.device:
    return device if isinstance(device, torch.device) else resolve_device(device)


def resolve_extractor(
    name: str, device: torch.device, inception_weights: str | None, log: Log | None = None
) -> tuple[Extractor, str | None]:
    """'auto' = Inception, or the labelled randconv proxy when no weights can be had (reason returned)."""
    if name != "auto":
        return build_extractor(name, device, inception_weights), None
    try:
        return build_extractor(INCEPTION, device, inception_weights), None
    except WeightsUnavailableError as e:
        reason = f"Inception weights unavailable, using the {RANDCONV} proxy (metric names say so): {e}"
        if log:
            log(reason)
        return build_extractor(RANDCONV, device), reason


def _check_is_possible(requests: list[MetricRequest], extractor: Extractor) -> None:
    if not any(r.kind == "is" for r in requests):
        return
    if extractor.logits_status == "nan":
        raise WeightsUnavailableError(
            "Inception Score needs the classification layer, which is NaN in these Inception weights "
            "(rebuilt offline copy); FID/KID/PR work with them. "
            f"Drop `is` from the metrics or {HOW_TO_GET_WEIGHTS}"
        )
    if extractor.logits_status != "ok":
        raise UsageError(f"Inception Score needs a classifier; feature extractor {extractor.name!r} has none")


def _summary(values: list[float]) -> dict[str, Any]:
    arr = np.asarray(values, dtype=np.float64)
    return {
        "mean": float(arr.mean()),
        "std": float(arr.std(ddof=1)) if arr.size > 1 else 0.0,
        "per_seed": [float(v) for v in arr],
    }


def _metric_values(
    req: MetricRequest,
    feats: torch.Tensor,
    logits: torch.Tensor | None,
    ref: ReferenceStats,
    device: torch.device,
) -> tuple[dict[str, float], dict[str, Any]]:
    """Per-seed component values (fid / kid / is / precision+recall) and extra per-seed details."""
    f = feats[: req.num_samples]
    if req.kind == "fid":
        return {"value": frechet_distance(feature_stats(f), ref.stats)}, {}
    if req.kind == "kid":
        out = kernel_inception_distance(f, ref.features)
        return {"value": out["mean"]}, {
            "subset_std": out["std"],
            "subsets": out["subsets"],
            "subset_size": out["subset_size"],
        }
    if req.kind == "is":
        out = inception_score(logits[: req.num_samples])
        return {"value": out["mean"]}, {"split_std": out["std"], "splits": out["splits"]}
    out = precision_recall(f, ref.features, device=device)
    return (
        {"precision": out["precision"], "recall": out["recall"], "f_score": out["f_score"]},
        {"neighbourhood": out["neighbourhood"]},
    )


def _artifact_sha(info: Any) -> str | None:
    if info is None:
        return None
    if isinstance(info, dict):
        return info.get("sha256")
    return getattr(info, "sha256", None) or None


@dataclass
class EvalRequest:
    """What to measure and how: the metric names with their protocol, seeds, extractor, device, cost.

    std over seeds is the sample std (0 for one seed). `cost`: "full" (True), "quick" (a few timed
    batches) or "none" (False).
    """

    metrics: Sequence[str] = ("fid",)
    num_samples: int | None = None
    seeds: Sequence[int] = (0,)
    extractor: str = "auto"
    inception_weights: str | None = None
    device: torch.device | str = "auto"
    batch_size: int = 250
    precision: str = PRECISIONS[0]  # fp32 unless asked: library results do not depend on the device
    reference_split: str = "train"
    num_reference: int | None = None
    cost: bool | str = True
    cost_batch_size: int | None = None
    use_cache: bool = True

    def resolved_extractor(self, dev: torch.device, log: Log | None = None) -> tuple[Extractor, str | None]:
        """resolve_extractor, built once per (device, extractor, weights): the generators' scores and the
        reference points of one evaluation share one extractor (the Inception's weights are loaded once).
        The memo is not a field: asdict, replace, copies and pickles of a request leave it out."""
        key = (str(dev), self.extractor, self.inception_weights)
        built = self.__dict__.get(_BUILT)
        if built is None or built[0] != key:
            built = self.__dict__[_BUILT] = (key, *resolve_extractor(self.extractor, dev, self.inception_weights, log))
        return built[1], built[2]

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != _BUILT}


def evaluate_artifacts(
    generators: Sequence[tuple[str, nn.Module, Any]],
    data: ImageDataLike,
    request: EvalRequest | None = None,
    *,
    log: Log | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Score each (name, generator module, ArtifactInfo-or-None) and return the metrics.json dict.

    Results: result["artifacts"][i]["metrics"][metric_name] = {"mean", "std", "per_seed", "details",
    "protocol"} for fid/kid/is; for pr the entry has "precision"/"recall"/"f_score" sub-dicts instead
    of mean/std/per_seed.
    """
    req = request or EvalRequest()
    mode = cost_mode(req.cost)
    requests = parse_metrics(req.metrics, req.num_samples, req.reference_split)
    seeds = [int(s) for s in req.seeds]
    if not seeds:
        raise UsageError("at least one seed is needed")
    if not generators:
        raise UsageError("no generators to evaluate")
    if req.batch_size <= 0:
        raise UsageError(f"--batch-size must be positive, got {req.batch_size}")
    dev = _resolve_device(req.device)
    precision = resolve_precision(req.precision, dev)  # auto: bf16 generation on CUDA, fp32 on the CPU
    ext, fallback = req.resolved_extractor(dev, log)
    _check_is_possible(requests, ext)
    ref = _reference_for(requests, data, ext, req, dev, log, progress)
    protocol_common = {
        "reference_split": req.reference_split,
        "reference": ref.record if ref else None,
        "extractor": ext.name,
        "extractor_is_proxy": ext.is_proxy,
        "weights_sha256": ext.weights_sha256,
        "seeds": seeds,
        "precision": precision,
        "extractor_precision": "fp32 (TF32 off)",
        "device": str(dev),
        "batch_size": req.batch_size,
        "ganctl_version": ganctl.__version__,
    }
    if fallback:
        protocol_common["fallback"] = fallback
    warnings = small_sample_warnings(requests, ext, ref.record["count"] if ref else None)
    scorer = _Run(requests, ext, ref, dev, precision, req.batch_size, log, progress)
    results = []
    for name, G, info in generators:
        result: dict[str, Any] = {"name": name, "artifact_sha256": _artifact_sha(info),
                                  "metrics": scorer.score(name, G, seeds, protocol_common, _artifact_sha(info))}
        if mode != "none":
            result["cost"] = _cost(G, dev, precision, mode, req.cost_batch_size or req.batch_size)
        results.append(result)
    out = {"format": "ganctl.metrics", "version": 1, "protocol": protocol_common, "artifacts": results}
    if warnings:
        out["warnings"] = warnings
    return out


def small_sample_warnings(requests: list[MetricRequest], ext: Extractor, reference_count: int | None) -> list[str]:
    """FID from fewer images than feature dimensions: the covariance estimate is rank-deficient, so the score
    is biased upward by an amount that depends on the count (Chong & Forsyth 2020, "Effectively unbiased FID"):
    such FIDs compare only with FIDs of the same counts. KID is unbiased and gets no warning."""
    out, feature_dim = [], ext.feature_dim
    for r in requests:
        if r.kind != "fid":
            continue
        short = [f"{n:,} {what}" for n, what in ((r.num_samples, "generated samples"),
                                                 (reference_count, "reference images"))
                 if n is not None and n < feature_dim]
        if short:
            out.append(f"{r.name(ext.name)}: {' and '.join(short)} for {feature_dim:,} feature dimensions; the FID is "
                       f"biased upward and compares only with FIDs of the same counts (use at least {feature_dim:,})")
    return out


def _reference_for(requests: list[MetricRequest], data: ImageDataLike, ext: Extractor, req: EvalRequest,
                   dev: torch.device, log: Log | None, progress: Progress | None) -> ReferenceStats | None:
    """The reference statistics the metrics need (none for IS alone), from the cache when it has them."""
    needs_ref = [r for r in requests if r.kind != "is"]
    if not needs_ref:
        return None
    ref = reference_stats(
        data,
        ext,
        req.num_reference,
        device=dev,
        batch_size=req.batch_size,
        need_features=any(r.kind in ("kid", "pr") for r in needs_ref),
        use_cache=req.use_cache,
        progress=None if progress is None else (lambda done, total: progress("reference statistics", done, total)),
    )
    if log:
        log(f"reference statistics: {ref.record['count']} images, "
            f"{'cache hit' if ref.record['cache_hit'] else 'computed'} ({ref.record['key']})")
    return ref


@dataclass
class _Run:
    """The fixed parts of one evaluation, so each generator is scored the same way."""

    requests: list[MetricRequest]
    ext: Extractor
    ref: ReferenceStats | None
    dev: torch.device
    precision: str
    batch_size: int
    log: Log | None
    progress: Progress | None

    def score(self, name: str, G: nn.Module, seeds: list[int], protocol: dict[str, Any],
              sha: str | None) -> dict[str, Any]:
        """metric name -> entry (mean/std/per_seed or P/R/F sub-dicts, details, protocol) for one generator."""
        n_max = max(r.num_samples for r in self.requests)
        want_logits = any(r.kind == "is" for r in self.requests)
        per_seed: dict[MetricRequest, list[tuple[dict[str, float], dict[str, Any]]]] = {r: [] for r in self.requests}
        for seed in seeds:
            if self.log:
                self.log(f"{name}: generating {n_max} samples (seed {seed})")
            stage = f"{name} seed {seed}: generate + features"
            batches = counted(iter_uint8(G, n_max, seed, self.batch_size, self.dev, self.precision), stage, n_max,
                              self.progress)
            got = extract_features(self.ext, batches, self.dev, keep_logits=want_logits)
            for req in self.requests:
                per_seed[req].append(_metric_values(req, got.features, got.logits, self.ref, self.dev))
        entries: dict[str, Any] = {}
        for req in self.requests:
            rows = per_seed[req]
            entry: dict[str, Any] = {}
            for component in rows[0][0]:
                summary = _summary([r[0][component] for r in rows])
                if component == "value":
                    entry.update(summary)
                else:
                    entry[component] = summary
            entry["details"] = [r[1] for r in rows]
            entry["protocol"] = {"metric": req.name(self.ext.name), "kind": req.kind, "num_samples": req.num_samples,
                                 **protocol, "artifact_sha256": sha}
            entries[req.name(self.ext.name)] = entry
        return entries


def _cost(G: nn.Module, dev: torch.device, precision: str, mode: str, batch_size: int) -> dict[str, Any]:
    if mode == "full":
        return {**cost_report(G, dev, precision, batch_size=batch_size), "mode": "full"}
    return {**cost_report(G, dev, precision, batch_size=min(batch_size, QUICK_COST["max_batch_size"]),
                          latency_repeats=QUICK_COST["latency_repeats"],
                          throughput_repeats=QUICK_COST["throughput_repeats"]), "mode": "quick"}


def evaluate_reference(
    data: ImageDataLike,
    request: EvalRequest | None = None,
    *,
    log: Log | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """`ganctl evaluate --data D --real-only`: compute (or find) the cached reference statistics only.

    Of `request` it uses extractor, inception_weights, device, batch_size, num_reference and use_cache."""
    req = request or EvalRequest()
    dev = _resolve_device(req.device)
    ext, fallback = req.resolved_extractor(dev, log)
    ref = reference_stats(data, ext, req.num_reference, device=dev, batch_size=req.batch_size,
                          use_cache=req.use_cache,
                          progress=None if progress is None else (lambda d, t: progress("reference statistics", d, t)))
    out = {
        "format": "ganctl.reference",
        "version": 1,
        "reference": ref.record,
        "extractor": ext.name,
        "extractor_is_proxy": ext.is_proxy,
        "feature_dim": ext.feature_dim,
        "device": str(dev),
    }
    if fallback:
        out["fallback"] = fallback
    return out
