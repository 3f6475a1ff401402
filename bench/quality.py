"""Quality at a fixed budget: the paper's recipe vs a plain baseline, same size, same data, same run.

    # CPU (~15 CPU-minutes): tiny-sized models on a real image folder, FID/KID-500 with the offline Inception
    python bench/quality.py --data folder:/tmp/CIFAR-10-images/train --mode cpu \
        --inception-weights /work/cache/pt_inception.pth --out runs/bench-quality
    # GPU (~10 min per arm on one GPU): cifar10-large, FID/KID-10k
    python bench/quality.py --data cifar10 --mode gpu --minutes 10 --out runs/bench-quality-gpu

Arms (methods §3, §5, §10):
- recipe:   MMD repulsive loss (bounded kernel, modified D term), PMish, saturate upper-bound schedule
- baseline: hinge loss, ReLU, fixed bound (the schedule is unused by hinge), everything else equal
Both arms have the same generator genotype and widths, the same discriminator, batch, learning rates,
seed and budget (--steps each, or --minutes of wall-clock each, converted to steps from a timed
calibration run of each arm). Scores: FID and KID of each EMA generator against N training images,
plus the floor: N held-out real images (not in the reference subset) against the same reference.
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
from ganctl.evaluate.api import EvalRequest, evaluate_artifacts, resolve_extractor  # noqa: E402
from ganctl.evaluate.baselines import heldout_images, score_images  # noqa: E402
from ganctl.models.artifact import load_generator  # noqa: E402
from ganctl.runtime import resolve_device  # noqa: E402
from ganctl.train.config import resolve_config  # noqa: E402
from ganctl.train.loop import train  # noqa: E402

ARMS = {
    "recipe": {"loss": "mmd", "activation": "pmish", "bound_schedule": "saturate"},
    "baseline": {"loss": "hinge", "activation": "relu", "bound_schedule": "fixed"},
}
MODES = {
    # CPU: a tiny-sized model that runs a few images per second on a loaded 2-core box
    "cpu": {"preset": "tiny", "overrides": {"resolution": 32, "width": 16, "d_width": 32, "latent_dim": 24,
                                            "batch_size": 32,
                                            "lr_g": 5e-4, "lr_d": 5e-4, "beta1": 0.0, "eval_every": 100,
                                            "eval_samples": 256, "lr_decay_start": 1.0},
            # 32 px, beta1 0 and constant rates (lr_decay_start 1): as measured in bench/RESULTS.md
            "steps": 300, "samples": 500, "precision": "fp32"},
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
        values["eval_extractor"] = "randconv"
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
    p.add_argument("--steps", type=int, default=None, help="G steps per arm (default: the mode's)")
    p.add_argument("--minutes", type=float, default=None, help="wall-clock per arm instead of --steps")
    p.add_argument("--samples", type=int, default=None, help="FID/KID sample count (default: the mode's)")
    p.add_argument("--inception-weights", default=None)
    p.add_argument("--extractor", default="auto", help="auto (Inception, else labelled randconv) | randconv")
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args()
    spec = MODES[a.mode]
    n = a.samples or spec["samples"]
    device = resolve_device(a.device)
    results: dict = {"mode": a.mode, "data": a.data, "device": str(device), "torch": torch.__version__,
                     "threads": torch.get_num_threads(), "cpu": platform.processor() or platform.machine(),
                     "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "arms": {}}
    if device.type == "cuda":
        results["gpu"] = torch.cuda.get_device_name(device)
    artifacts = []
    for arm in ARMS:
        steps, per_step = a.steps or spec["steps"], None
        if a.minutes:
            steps, per_step = calibrated_steps(a.mode, arm, a.data, a.minutes, a.device, a.seed)
        cfg = arm_config(a.mode, arm, a.data, steps, a.out / arm, a.device, a.seed)
        start = time.perf_counter()
        summary = train(cfg, force=True)
        wall = time.perf_counter() - start
        results["arms"][arm] = {**ARMS[arm], "steps": steps, "batch_size": cfg.batch_size, "width": cfg.width,
                                "d_width": cfg.d_width, "precision": cfg.precision, "train_seconds": round(wall, 1),
                                "calibrated_s_per_step": per_step, "images_seen": steps * cfg.batch_size,
                                "in_loop_best": summary.get("best_proxy"), "in_loop_metric": summary.get("proxy_name")}
        G, info = load_generator(a.out / arm / "generator.safetensors", device="cpu")
        artifacts.append((arm, G.to(device), info))
        print(f"{arm}: {steps} steps in {wall:.0f} s", flush=True)
    data = load_data(a.data, resolution=artifacts[0][1].resolution, seed=0)
    metrics = evaluate_artifacts(artifacts, data, EvalRequest(["fid", "kid"], n, extractor=a.extractor,
                                                              inception_weights=a.inception_weights, device=device,
                                                              num_reference=n, precision="fp32", cost=False))
    ext, _ = resolve_extractor(a.extractor, device, a.inception_weights)
    floor = score_images(heldout_images(a.data, data, n, n, a.seed, data.resolution), data, ["fid", "kid"], n, n,
                         ext, device)
    results["extractor"] = metrics["protocol"]["extractor"]
    results["extractor_is_proxy"] = metrics["protocol"]["extractor_is_proxy"]
    results["samples"] = n
    results["reference"] = f"{n} training images (seeded subset)"
    results["floor"] = floor
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


if __name__ == "__main__":
    main()
