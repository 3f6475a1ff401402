"""Images/s of one MMD-GAN train step (D step + G step): fast path vs plain eager fp32, same run.

    python bench/train_throughput.py                      # cifar10-large, batch 128 (GPU)
    python bench/train_throughput.py --preset tiny --batch-size 8 --device cpu
Fast path = bf16 autocast + channels_last + torch.compile (on CUDA); baseline = eager fp32.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from ganctl.train.config import resolve_config
from ganctl.train.ddp import World
from ganctl.train.loop import build_models
from ganctl.train.step import GANStep, StepModules


def measure(cfg, device: torch.device, fast: bool, steps: int, repeats: int) -> float:
    G, D = build_models(cfg)
    G, D = G.to(device), D.to(device)
    if fast:
        G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    gc, dc = (torch.compile(G), torch.compile(D)) if fast and device.type == "cuda" else (G, D)
    mods = StepModules(G, D, gc, gc, dc, dc)
    step = GANStep(mods, torch.optim.Adam(G.parameters(), 2e-4, betas=(0.0, 0.9)),
                   torch.optim.Adam(D.parameters(), 2e-4, betas=(0.0, 0.9)), loss="mmd", b_l=0.25,
                   modified_weight=1e-4, dgl_weight=0.0, precision="bf16" if fast else "fp32", device=device,
                   world=World(), channels_last=fast)
    real = torch.rand(cfg.batch_size, 3, cfg.resolution, cfg.resolution, device=device) * 2 - 1

    def run(n: int) -> None:
        for _ in range(n):
            z = torch.randn(cfg.batch_size, cfg.latent_dim, device=device)
            step.d_step(real, z)
            step.g_step(real, torch.randn_like(z))

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    run(3)  # warm-up (and compilation)
    sync()
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        run(steps)
        sync()
        rates.append(steps * cfg.batch_size / (time.perf_counter() - t))
    return statistics.median(rates)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="cifar10-large")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    device = torch.device(a.device)
    cfg = resolve_config(a.preset, {"batch_size": a.batch_size})
    base = measure(cfg, device, fast=False, steps=a.steps, repeats=a.repeats)
    fast = measure(cfg, device, fast=True, steps=a.steps, repeats=a.repeats)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    fast_label = "bf16+channels_last" + ("+compile" if device.type == "cuda" else "")
    print(f"{'path':<28}{'img/s':>12}\n{'eager fp32':<28}{base:>12.1f}\n{fast_label:<28}{fast:>12.1f}")
    print(json.dumps({"bench": "train_throughput", "preset": a.preset, "batch": cfg.batch_size, "device": name,
                      "fast_path": fast_label,
                      "baseline_img_s": round(base, 1), "fast_img_s": round(fast, 1),
                      "ratio": round(fast / base, 3)}))


if __name__ == "__main__":
    main()
