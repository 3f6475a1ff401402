"""`ganctl.evaluate.run(cfg)`: the evaluate stage, everything `ganctl evaluate` does except flags and printing.

It resolves the Inception weights (flag, else GANCTL_INCEPTION_WEIGHTS), refuses an existing metrics.json
unless forced, loads the artifacts and checks their resolution, loads the reference data, scores, and
writes metrics.json atomically under a folder lock. A front end watches through `EvaluateHooks`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ganctl.data import load_data
from ganctl.errors import RunDirError, UsageError
from ganctl.evaluate.api import COST_MODES, EvalRequest, Log, Progress, evaluate_artifacts, evaluate_reference
from ganctl.evaluate.protocol import parse_metrics
from ganctl.io.atomic import atomic_write_json
from ganctl.io.rundir import lock_folder
from ganctl.models.artifact import load_generator
from ganctl.models.limits import check_sizes
from ganctl.runtime import AUTO, resolve_device, resolve_precision

WEIGHTS_ENV = "GANCTL_INCEPTION_WEIGHTS"
NAME_WIDTH = 16  # with three metrics and the cost columns, the CLI table then fits 80 columns


@dataclass
class EvaluateConfig:
    """One evaluation: which artifacts, against which data, with which metrics, written where."""

    artifacts: list[Path] = field(default_factory=list)
    data: str | None = None  # None: the data the artifacts record
    data_root: str | None = None
    resolution: int | None = None
    metrics: list[str] = field(default_factory=lambda: ["fid"])
    num_samples: int | None = None
    num_reference: int | None = None
    seeds: int = 1  # how many seeds: seed, seed+1, ...
    extractor: str = EvalRequest.extractor
    inception_weights: str | None = None  # None: GANCTL_INCEPTION_WEIGHTS, else download
    batch_size: int = EvalRequest.batch_size
    precision: str = AUTO  # bf16 generation on a GPU, fp32 on the CPU; features always fp32
    real_only: bool = False
    reference_points: bool = False  # also score held-out real images (floor) and matched noise (ceiling)
    cost: str = "quick"  # one of COST_MODES
    out: Path = Path("runs/evaluate")
    force: bool = False
    device: str = "auto"
    seed: int = 0


def _ignore(*_: Any) -> None:
    return None


@dataclass
class EvaluateHooks:
    """What a front end sees of a run; the defaults see nothing."""

    log: Log | None = None  # step-by-step lines
    note: Callable[[str], None] = _ignore  # notes the user should read
    warn: Callable[[str], None] = _ignore  # warnings: the CLI shows them even with --quiet
    header: Callable[[list[str]], None] = _ignore  # one summary before the long work starts
    progress: Callable[[], AbstractContextManager[Progress | None]] = nullcontext  # bars for the long work


@dataclass
class EvaluateOutcome:
    result: dict[str, Any]  # metrics.json's content, or the reference record with real_only
    path: Path | None  # the metrics.json written (None with real_only)


def run(cfg: EvaluateConfig, hooks: EvaluateHooks | None = None) -> EvaluateOutcome:
    """Score cfg.artifacts (or, with real_only, only the reference statistics of cfg.data)."""
    hooks = hooks or EvaluateHooks()
    weights = cfg.inception_weights or os.environ.get(WEIGHTS_ENV) or None
    dev = resolve_device(cfg.device)
    if cfg.cost not in COST_MODES:
        raise UsageError(f"cost {cfg.cost!r}: expected one of {', '.join(COST_MODES)}")
    if cfg.real_only:
        if cfg.reference_points:
            raise UsageError("--reference-points scores generators against two references; drop --real-only")
        return EvaluateOutcome(_reference_only(cfg, weights, dev, hooks), None)
    parse_metrics(cfg.metrics, cfg.num_samples)  # typos fail here, before any artifact, dataset or out is touched
    resolve_precision(cfg.precision, dev)
    if not cfg.artifacts:
        raise UsageError("give at least one generator artifact (or --real-only)")
    if cfg.seeds <= 0:
        raise UsageError(f"--seeds must be positive, got {cfg.seeds}")
    check_sizes({"seeds": cfg.seeds, "batch_size": cfg.batch_size, "num_samples": cfg.num_samples,
                 "num_reference": cfg.num_reference})
    target = cfg.out / "metrics.json"
    check_target(target, cfg.force)
    loaded = [(p, *load_generator(p, dev)) for p in cfg.artifacts]
    model_res = _common_resolution([G for _, G, _ in loaded], cfg.resolution)
    data_name = resolve_data(cfg.data, [info for _, _, info in loaded], hooks.note)
    d = load_data(data_name, root=cfg.data_root, resolution=model_res)
    if cfg.data is not None:
        warn_data_mismatch(d, [(p, info) for p, _, info in loaded], hooks.warn)
    if cfg.out.exists() and not cfg.out.is_dir():
        raise RunDirError("--out exists and is not a folder", cfg.out)
    hooks.header([f"{len(loaded)} artifact(s), {model_res} px", f"data {d.name} ({len(d)} images)",
                  f"device {dev}", f"generator {cfg.precision}", f"out {cfg.out}"])
    lock = lock_folder(cfg.out)  # a second evaluate into this out is refused, not silently lost
    try:
        check_target(target, cfg.force)  # again, now that no one else can write here
        req = _request(cfg, weights, dev)
        result = _score(cfg, req, loaded, d, hooks)
        for warning in result.get("warnings", []):
            hooks.warn(f"warning: {warning}")
        if cfg.reference_points:
            result["reference_points"] = _reference_points(req, data_name, d, cfg.seed, hooks)
        atomic_write_json(target, result)
    finally:
        lock.close()
    return EvaluateOutcome(result, target)


def _reference_only(cfg: EvaluateConfig, weights: str | None, dev: torch.device, hooks: EvaluateHooks) -> dict:
    if cfg.artifacts:
        raise UsageError("--real-only takes no artifacts")
    if cfg.data is None:
        raise UsageError("--real-only needs --data")
    d = load_data(cfg.data, root=cfg.data_root, resolution=cfg.resolution)
    req = EvalRequest(extractor=cfg.extractor, inception_weights=weights, device=dev, batch_size=cfg.batch_size,
                      num_reference=cfg.num_reference)
    with hooks.progress() as bars:
        return evaluate_reference(d, req, log=hooks.log, progress=bars)


def _request(cfg: EvaluateConfig, weights: str | None, dev: torch.device) -> EvalRequest:
    """The evaluation's protocol: what the generators and the reference points are both scored with."""
    return EvalRequest(metrics=list(cfg.metrics), num_samples=cfg.num_samples,
                       seeds=[cfg.seed + i for i in range(cfg.seeds)], extractor=cfg.extractor,
                       inception_weights=weights, device=dev, batch_size=cfg.batch_size, precision=cfg.precision,
                       num_reference=cfg.num_reference, cost=cfg.cost)


def _score(cfg: EvaluateConfig, req: EvalRequest, loaded: list, d: Any, hooks: EvaluateHooks) -> dict[str, Any]:
    """evaluate_artifacts over the loaded generators, plus what metrics.json records about the inputs."""
    names = short_names(cfg.artifacts)
    with hooks.progress() as bars:
        result = evaluate_artifacts([(name, G, info) for name, (_, G, info) in zip(names, loaded, strict=True)],
                                    d, req, log=hooks.log, progress=bars)
    result["data"] = {"name": d.name, "fingerprint": d.fingerprint, "count": len(d), "resolution": d.resolution}
    for (p, _, info), row in zip(loaded, result["artifacts"], strict=True):
        row["path"] = str(p)
        row["params"] = info.num_params
        row["nonzero_params"] = info.nonzero_params
    return result


def _reference_points(req: EvalRequest, data_name: str, d: Any, seed: int, hooks: EvaluateHooks) -> dict[str, Any]:
    """Floor and ceiling (ganctl.evaluate.baselines) in exactly this evaluation's protocol and loaded data."""
    from ganctl.evaluate.baselines import reference_points  # lazy: only this flag needs it

    if hooks.log is not None:
        hooks.log("reference points: held-out real images (floor) and matched noise (ceiling)")
    return reference_points(data_name, req, seed=seed, data=d)


def _common_resolution(generators: Sequence[Any], wanted: int | None) -> int:
    res = {int(G.resolution) for G in generators}
    if len(res) > 1:
        raise UsageError(f"artifacts have different resolutions {sorted(res)}; evaluate them separately")
    model_res = res.pop()
    if wanted is not None and wanted != model_res:
        raise UsageError(f"--resolution {wanted} differs from the artifacts' {model_res} px")
    return model_res


def check_target(target: Path, force: bool) -> None:
    """metrics.json is replaced only with force, and never when it is not a regular file."""
    if os.path.lexists(target):
        if not target.is_file() or target.is_symlink():
            raise RunDirError("metrics.json exists and is not a regular file; choose another --out", target)
        if not force:
            raise RunDirError("metrics.json exists; pass --force to overwrite or choose another --out", target)


def resolve_data(data: str | None, infos: list, note: Callable[[str], None] = _ignore) -> str:
    """data, else the data the artifacts record (all must agree), else cifar10 with a note."""
    if data is not None:
        return data
    recorded = {(i.provenance or {}).get("data") for i in infos} - {None}
    if len(recorded) > 1:
        raise UsageError(f"the artifacts were trained on different data ({', '.join(sorted(recorded))}); "
                         "pass --data to choose the reference")
    if recorded:
        return recorded.pop()
    note("note: the artifacts record no training data; using --data cifar10")
    return "cifar10"


def warn_data_mismatch(d: Any, loaded: list, warn: Callable[[str], None] = _ignore) -> None:
    """A reference other than the training data is allowed (transfer), but never silently."""
    for path, info in loaded:
        prov = info.provenance or {}
        name, fingerprint = prov.get("data"), prov.get("data_fingerprint")
        if name is not None and name != d.name:
            warn(f"warning: {path} was trained on {name}, evaluating against {d.name}")
        elif fingerprint is not None and fingerprint != d.fingerprint:
            warn(f"warning: {path} was trained on a different copy or subset of {d.name} (data fingerprints differ)")


def _distinct_tails(paths: list[Path]) -> list[str]:
    """The fewest trailing path parts that tell the artifacts apart (train/generator.safetensors)."""
    for depth in range(1, max(len(p.parts) for p in paths) + 1):
        names = ["/".join(p.parts[-depth:]) for p in paths]
        if len(set(names)) == len(names):
            return names
    return [str(p) for p in paths]


def short_names(paths: list[Path]) -> list[str]:
    """Names for the table: fewest trailing parts that differ, without .safetensors or a shared /generator."""
    names = [n.removesuffix(".safetensors") for n in _distinct_tails(paths)]
    if len(names) > 1 and all(n.endswith("/generator") for n in names):
        names = [n.removesuffix("/generator") for n in names]
    return [n if len(n) <= NAME_WIDTH else "…" + n[-(NAME_WIDTH - 1):] for n in names]
