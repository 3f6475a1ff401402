"""Quality at a fixed budget: the paper's recipe vs a plain baseline, same size, same data, same run.

    # CPU (about 25 minutes on 2 cores): the tiny preset on a real image folder, FID/KID-500 with the Inception
    python bench/quality.py --data folder:/tmp/CIFAR-10-images/train --mode cpu \
        --inception-weights /work/cache/pt_inception.pth --out runs/bench-quality
    # GPU (~10 min per arm on one GPU): cifar10-large, FID/KID-10k
    python bench/quality.py --data cifar10 --mode gpu --minutes 10 --out runs/bench-quality-gpu

Arms (methods §3, §5, §10):
- recipe:   MMD repulsive loss (bounded kernel, modified D term), PMish, saturate upper-bound schedule
- baseline: hinge loss, ReLU, fixed bound (the schedule is unused by hinge), everything else equal
- baseline-paper-rates (only with --arms): the baseline at the paper's Adam rates, not the mode's
The default arms (recipe, baseline) have the same generator genotype and widths, the same discriminator,
batch, learning rates, seed and budget (--steps each, or --minutes of wall-clock each, converted to steps
from a timed calibration run of each arm). Scores: FID and KID of each EMA generator against N training images,
plus the floor (N held-out real images, not in the reference subset) and the ceiling (N matched per-pixel
noise images) against the same reference, scored as `ganctl evaluate --reference-points` scores them.
The extractor is named in the output; without Inception weights the randconv proxy is used and labelled.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ganctl.data import load_data  # noqa: E402
from ganctl.evaluate.api import EvalRequest, evaluate_artifacts  # noqa: E402
from ganctl.evaluate.baselines import reference_points  # noqa: E402
from ganctl.models.artifact import load_generator  # noqa: E402
from ganctl.recipe import DEFAULTS  # noqa: E402
from ganctl.runtime import resolve_device  # noqa: E402
from ganctl.train.config import NO_DECAY, resolve_config  # noqa: E402
from ganctl.train.loop import train  # noqa: E402

ARMS = {
    "recipe": {"loss": "mmd", "activation": "pmish", "bound_schedule": "saturate"},
    "baseline": {"loss": "hinge", "activation": "relu", "bound_schedule": "fixed"},
    # the baseline at the paper's own Adam rates (the recipe defaults, methods §10: 2e-4, beta 0, 0.9,
    # constant) instead of the mode's: the mode's rates were tuned on the recipe, not on the baseline
    "baseline-paper-rates": {"loss": "hinge", "activation": "relu", "bound_schedule": "fixed",
                             "lr_g": DEFAULTS.lr_g, "lr_d": DEFAULTS.lr_d, "beta1": DEFAULTS.beta1,
                             "beta2": DEFAULTS.beta2, "lr_decay_start": NO_DECAY},
}
DEFAULT_ARMS = ("recipe", "baseline")
MODES = {
    # CPU: the `tiny` preset as the main job trains it (16 px, G width 16, D width 32, latent 24, batch 64,
    # Adam 1e-3 / 1e-3, beta1 0.5, rates decayed over the second half, EMA 0.99), 1,500 steps per arm
    "cpu": {"preset": "tiny", "overrides": {"eval_every": 250, "eval_samples": 256},
            "steps": 1500, "samples": 500, "precision": "fp32"},
    # GPU: the paper's CIFAR-10 model and batch; bf16 autocast is the train default on CUDA
    "gpu": {"preset": "cifar10-large", "overrides": {"eval_every": 1000, "eval_samples": 2000},
            "steps": 8000, "samples": 10_000, "precision": "bf16"},
}


def arm_config(mode: str, arm: str, data: str, steps: int, out: Path, device: str, seed: int):
    spec = MODES[mode]
    values = {**spec["overrides"], **ARMS[arm], "data": data, "steps": steps, "out": str(out),
              "device": device, "seed": seed, "precision": spec["precision"], "log_every": 100,
              "checkpoint_every": max(steps, 1), "epochs": None, "eval_every_epochs": None}
    if mode == "cpu":
        values["eval_extractor"] = "randconv"  # the in-loop proxy: Inception every 250 steps would dominate
    return resolve_config(spec["preset"], values)


def calibrated_steps(mode: str, arm: str, data: str, minutes: float, device: str, seed: int) -> tuple[int, float]:
    """Steps that fit in `minutes` for this arm, from a timed 30-step run (evaluation off)."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg = arm_config(mode, arm, data, 30, Path(tmp) / "cal", device, seed)
        cfg.eval_every = 0
        start = time.perf_counter()
        train(cfg)
        per_step = (time.perf_counter() - start) / 30
    return max(1, int(minutes * 60 / per_step)), per_step


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="folder:PATH, npz:PATH or a dataset name")
    p.add_argument("--mode", choices=sorted(MODES), default="cpu")
    p.add_argument("--arms", default=",".join(DEFAULT_ARMS), help=f"comma-separated, of {', '.join(ARMS)}")
    p.add_argument("--steps", type=int, default=None, help="G steps per arm (default: the mode's)")
    p.add_argument("--minutes", type=float, default=None, help="wall-clock per arm instead of --steps")
    p.add_argument("--samples", type=int, default=None, help="FID/KID sample count (default: the mode's)")
    p.add_argument("--inception-weights", default=None)
    p.add_argument("--extractor", default="auto", help="auto (Inception, else labelled randconv) | randconv")
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args()
    arms = list(dict.fromkeys(arm.strip() for arm in a.arms.split(",") if arm.strip()))  # each once, in order
    unknown = [arm for arm in arms if arm not in ARMS]
    if unknown or not arms:
        p.error(f"--arms {a.arms!r}: choose from {', '.join(ARMS)}")
    spec = MODES[a.mode]
    n = a.samples or spec["samples"]
    device = resolve_device(a.device)
    results: dict = {"mode": a.mode, "data": a.data, "device": str(device), "torch": torch.__version__,
                     "threads": torch.get_num_threads(), "cpu": platform.processor() or platform.machine(),
                     "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "arms": {}}
    if device.type == "cuda":
        results["gpu"] = torch.cuda.get_device_name(device)
    artifacts = []
    for arm in arms:
        steps, per_step = a.steps or spec["steps"], None
        if a.minutes:
            steps, per_step = calibrated_steps(a.mode, arm, a.data, a.minutes, a.device, a.seed)
        cfg = arm_config(a.mode, arm, a.data, steps, a.out / arm, a.device, a.seed)
        start = time.perf_counter()
        summary = train(cfg, force=True)
        wall = time.perf_counter() - start
        results["arms"][arm] = {**ARMS[arm], "steps": steps, "batch_size": cfg.batch_size, "width": cfg.width,
                                "d_width": cfg.d_width, "precision": cfg.precision, "train_seconds": round(wall, 1),
                                "lr_g": cfg.lr_g, "lr_d": cfg.lr_d, "betas": [cfg.beta1, cfg.beta2],
                                "lr_decay_start": cfg.lr_decay_start,
                                "calibrated_s_per_step": per_step, "images_seen": steps * cfg.batch_size,
                                "in_loop_best": summary.get("best_proxy"), "in_loop_metric": summary.get("proxy_name")}
        G, info = load_generator(a.out / arm / "generator.safetensors", device="cpu")
        artifacts.append((arm, G.to(device), info))
        print(f"{arm}: {steps} steps in {wall:.0f} s", flush=True)
    data = load_data(a.data, resolution=artifacts[0][1].resolution, seed=0)
    req = EvalRequest(["fid", "kid"], n, extractor=a.extractor, inception_weights=a.inception_weights,
                      device=device, num_reference=n, precision="fp32", cost=False)
    metrics = evaluate_artifacts(artifacts, data, req)
    points = reference_points(a.data, req, seed=a.seed, data=data)  # same protocol: floor and ceiling
    floor, ceiling = points["floor"], points["ceiling"]
    results["extractor"] = metrics["protocol"]["extractor"]
    results["extractor_is_proxy"] = metrics["protocol"]["extractor_is_proxy"]
    results["samples"] = n
    results["reference"] = f"{n} training images (seeded subset)"
    results["floor"] = floor
    results["ceiling"] = ceiling
    for row in metrics["artifacts"]:
        results["arms"][row["name"]]["scores"] = {k: v["mean"] for k, v in row["metrics"].items()}
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "quality.json").write_text(json.dumps(results, indent=2))
    names = list(floor)
    print(f"\n{a.mode} mode, {results['device']}, extractor {results['extractor']}, {n} samples vs {n} train images")
    print(f"{'arm':<28}" + "".join(f"{m:>32}" for m in names))
    for arm, r in results["arms"].items():
        label = f"{arm} ({r['steps']} steps)"
        print(f"{label:<28}" + "".join(f"{r['scores'][m]:>32.4g}" for m in names))
    print(f"{'held-out real (floor)':<28}" + "".join(f"{floor[m]:>32.4g}" for m in names))
    print(f"{'matched noise (ceiling)':<28}" + "".join(f"{ceiling[m]:>32.4g}" for m in names))


if __name__ == "__main__":
    main()
