"""Evaluation and sampling core: extractors, reference cache, FID/KID/IS/PR, proxy, cost, sampling;
`run(EvaluateConfig)` is the evaluate stage.

Import-light on purpose: the submodules are imported on first use of a name listed here.
"""

from __future__ import annotations

from ganctl.lazy import lazy_getattr

_EXPORTS = {
    "Extractor": "extractors",
    "register_extractor": "extractors",
    "unregister_extractor": "extractors",
    "build_extractor": "extractors",
    "extractor_names": "extractors",
    "extract_features": "extractors",
    "resolve_inception_weights": "extractors",
    "inception_weights_available": "extractors",
    "strict_fp32": "extractors",
    "INCEPTION": "extractors",
    "RANDCONV": "extractors",
    "GaussianStats": "stats",
    "feature_stats": "stats",
    "frechet_distance": "stats",
    "kernel_inception_distance": "stats",
    "inception_score": "stats",
    "precision_recall": "stats",
    "reference_stats": "reference",
    "ReferenceStats": "reference",
    "cache_root": "reference",
    "make_noise": "generate",
    "generate_uint8": "generate",
    "Generation": "generate",
    "iter_uint8": "generate",
    "to_uint8": "generate",
    "QualityProxy": "proxy",
    "count_params": "cost",
    "count_flops": "cost",
    "measure_latency": "cost",
    "measure_throughput": "cost",
    "cost_report": "cost",
    "sample_grid": "sample",
    "sample_to_dir": "sample",
    "sample_to_npz": "sample",
    "interpolate": "sample",
    "save_grid": "sample",
    "grid_image": "sample",
    "slerp": "sample",
    "parse_metrics": "protocol",
    "MetricRequest": "protocol",
    "evaluate_artifacts": "api",
    "evaluate_reference": "api",
    "EvalRequest": "api",
    "run": "stage",
    "EvaluateConfig": "stage",
    "EvaluateHooks": "stage",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_getattr(__name__, _EXPORTS)
