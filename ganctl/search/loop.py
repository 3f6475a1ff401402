"""The shared search run loop: run folder, stats, periodic derivation, checkpoints, exact resume, budget.

Resume restores α, weights, optimisers, the global RNG, the data streams' positions and the step
(τ is a function of the step), so on the CPU a resumed search is bitwise the uninterrupted one.
A wall-clock budget stops between iterations, then derives and writes everything like a normal end.
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ganctl.data import load_data
from ganctl.data.preflight import check_data_arg
from ganctl.errors import TrainingDivergedError, UsageError
from ganctl.genotype import save_genotype
from ganctl.io.atomic import atomic_write_json
from ganctl.io.checkpoint import load_checkpoint, restoring, save_checkpoint
from ganctl.io.rundir import RunDir
from ganctl.runtime import derive_seed, resolve_device, rng_state, seed_all, set_rng_state
from ganctl.search.adversarialnas import AdversarialNAS
from ganctl.search.alphagan import AlphaGAN
from ganctl.search.config import RUNTIME_KEYS, SearchConfig, load_saved, validate
from ganctl.search.fastpath import FastPath
from ganctl.search.plot import HISTORY, append_history, plot_alphas, truncate_history

log = logging.getLogger(__name__)
CHECKPOINT = "checkpoint.pt"
GENOTYPE = "genotype.json"
ALPHAS = "alphas.json"
PLOT = "alphas.png"

# progress(step_done, total_steps, stats) — the CLI passes a Rich progress bar here
Progress = Callable[[int, int, dict[str, Any]], None]


@dataclass
class SearchResult:
    out: Path
    genotype_path: Path
    steps_done: int
    stopped_by: str  # "steps" | "budget"
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"output": str(self.genotype_path), "out": str(self.out), "steps": self.steps_done,
                "stopped_by": self.stopped_by, "seconds": round(self.seconds, 2)}


def make_strategy(cfg: SearchConfig, device: torch.device, fast: FastPath):
    """Load the data and build the method's search state (seeded, so a resume rebuilds the same nets)."""
    data = load_data(cfg.data, root=cfg.data_root, resolution=cfg.resolution, seed=cfg.seed,
                     max_images=cfg.max_images)
    seed_all(derive_seed(cfg.seed, "search-init"))
    if cfg.method == "adversarialnas":
        return AdversarialNAS(cfg, data, device, fast)
    return AlphaGAN(cfg, data, device, fast)


def alphas_document(strategy: Any, step: int) -> dict[str, Any]:
    """Raw logits α and their softmax per edge, with the op names they index."""
    doc: dict[str, Any] = {"format": "ganctl.alphas", "version": 1, "step": step}
    for net_name, net in strategy.supernets().items():
        doc[net_name] = {key: {"ops": list(net.op_names[key]),
                               "logits": [float(v) for v in alpha.detach().float().cpu()],
                               "softmax": [float(v) for v in torch.softmax(alpha.detach().float().cpu(), -1)]}
                         for key, alpha in net.alphas.items()}
    return doc


def _resolve_resume(cfg: SearchConfig) -> SearchConfig:
    """The saved config wins, except for runtime keys (device, budget, logging cadence)."""
    saved = SearchConfig.from_dict(load_saved(cfg.out))
    for key in RUNTIME_KEYS:
        setattr(saved, key, getattr(cfg, key))
    validate(saved)
    return saved


def run_search(cfg: SearchConfig, *, resume: bool = False, force: bool = False,
               progress: Progress | None = None, stop_after: int | None = None) -> SearchResult:
    """Run (or resume) a search into `cfg.out`. `stop_after` ends early without finishing (tests)."""
    if not cfg.out:
        raise UsageError("--out is required")
    if resume and force:
        raise UsageError("--resume and --force contradict each other; pick one")
    if resume:
        cfg = _resolve_resume(cfg)
    validate(cfg)
    device = resolve_device(cfg.device)
    fast = FastPath.choose(device, cfg.precision, cfg.channels_last, cfg.compile)
    check_data_arg(cfg.data)  # a bad --data fails before the run folder is claimed
    run = RunDir.open(cfg.out, cfg.to_dict(), force=force, resume=resume)
    try:
        return _run(cfg, run, device, fast, resume, progress, stop_after)
    finally:
        run.close()


def _restore(cfg: SearchConfig, run: RunDir, strategy: Any, resume: bool) -> int:
    """The step to continue from: the checkpoint's (α, weights, optimisers, RNG restored), else 0 with a fresh seed."""
    start = 0
    if resume and run.path(CHECKPOINT).exists():
        state = load_checkpoint(run.path(CHECKPOINT), expect_kind="search")
        with restoring(run.path(CHECKPOINT)):
            strategy.load_state_dict(state["strategy"])
            set_rng_state(state["rng"])
            start = int(state["step"])
        run.truncate_stats(start)
        truncate_history(run.path(HISTORY), start)
    else:  # a fresh run, or one killed before its first checkpoint: start over, as train does
        run.truncate_stats(0)
        truncate_history(run.path(HISTORY), 0)
        seed_all(derive_seed(cfg.seed, "search-loop"))
    return start


def _run(cfg: SearchConfig, run: RunDir, device: torch.device, fast: FastPath, resume: bool,
         progress: Progress | None, stop_after: int | None) -> SearchResult:
    t0 = time.monotonic()
    strategy = make_strategy(cfg, device, fast)
    start = _restore(cfg, run, strategy, resume)
    provenance = {"method": cfg.method, "preset": cfg.preset, "data": cfg.data, "seed": cfg.seed,
                  "resolution": cfg.resolution, "fast_path": fast.describe()}
    (run.root / "genotypes").mkdir(exist_ok=True)

    def checkpoint(step: int) -> None:
        save_checkpoint(run.path(CHECKPOINT), {"kind": "search", "step": step, "config": cfg.to_dict(),
                                               "strategy": strategy.state_dict(), "rng": rng_state()})

    def derive(step: int) -> Any:
        genotype = strategy.genotype({**provenance, "step": step})
        save_genotype(run.path(f"genotypes/step-{step:06d}.json"), genotype)
        append_history(run.path(HISTORY), alphas_document(strategy, step))
        return genotype

    stopped_by, step = "steps", start
    end = cfg.steps if stop_after is None else min(cfg.steps, stop_after)
    if progress:
        progress(start, cfg.steps, {})
    while step < end:
        if cfg.budget_s is not None and time.monotonic() - t0 >= cfg.budget_s:
            stopped_by = "budget"
            break
        stats = strategy.step(step)
        step += 1
        if step % cfg.log_every == 0 or step == end:
            row = {"step": step, **{k: float(v) for k, v in stats.items()}}
            bad = [k for k, v in row.items() if isinstance(v, float) and not math.isfinite(v)]
            if bad:
                raise TrainingDivergedError(f"search diverged at step {step}: {', '.join(bad)} is not finite")
            run.log(row)
            if progress:
                progress(step, cfg.steps, row)
        if step % cfg.derive_every == 0:
            derive(step)
        if step % cfg.checkpoint_every == 0:
            checkpoint(step)
    if stop_after is not None and step < cfg.steps and stopped_by == "steps":
        checkpoint(step)
        return SearchResult(run.root, run.path(GENOTYPE), step, "interrupted", time.monotonic() - t0)
    genotype = derive(step) if step % cfg.derive_every else strategy.genotype({**provenance, "step": step})
    save_genotype(run.path(GENOTYPE), genotype)
    atomic_write_json(run.path(ALPHAS), alphas_document(strategy, step))
    checkpoint(step)
    try:
        plot_alphas(run.path(HISTORY), run.path(PLOT))
    except Exception as e:  # noqa: BLE001 - a missing plot must not lose a finished search
        log.warning("could not draw %s: %s", PLOT, e)
    seconds = time.monotonic() - t0
    run.finish({"steps": step, "stopped_by": stopped_by, "genotype": GENOTYPE, "seconds": round(seconds, 2)})
    return SearchResult(run.root, run.path(GENOTYPE), step, stopped_by, seconds)
