"""Images/s of the full train step — D step, G step, EMA update and the loop's bookkeeping — on the
default CUDA path vs eager fp32 (TF32 off), timed interleaved in the same run.

    python bench/train_throughput.py                                   # cifar10-large, batch 128 (GPU)
    python bench/train_throughput.py --preset tiny --batch-size 8 --device cpu --steps 2   # smoke
Default path = what `ganctl train` does on CUDA: bf16 autocast, channels_last, fused Adam, flip masks on
the device, torch.compile (add --compile on the CPU to force it). Baseline = eager fp32, NCHW, TF32
off, PyTorch's default Adam. Both draw batches from a BatchStream and noise on the device, update the
EMA and accumulate the losses on the device, as the train loop does.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass

import torch
from _common import device_name, interleaved, sync, tf32

from ganctl.core.ema import EMA
from ganctl.core.optim import compile_module, make_adam
from ganctl.core.step import GANStep, StepModules
from ganctl.runtime import World
from ganctl.train.config import resolve_config
from ganctl.train.loop import build_models


@dataclass
class Variant:
    label: str
    fast: bool
    compile: bool
    compile_mode: str = "default"


def build(cfg, device: torch.device, v: Variant):
    """One independent trainer state (models, optimisers, EMA, data, noise) and a `run(n)` closure."""
    from ganctl.data import BatchStream

    G, D = build_models(cfg)
    G, D = G.to(device), D.to(device)
    if v.fast:
        G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    gc, dc = (compile_module(G, v.compile_mode), compile_module(D, v.compile_mode)) if v.compile else (G, D)
    betas = (cfg.beta1, cfg.beta2)
    if v.fast:
        opt_g = make_adam(G.parameters(), cfg.lr_g, betas, device)
        opt_d = make_adam(D.parameters(), cfg.lr_d, betas, device)
    else:
        opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=betas)
        opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=betas)
    recipe = cfg.recipe().replace(dgl_weight=0.0, precision="bf16" if v.fast else "fp32")
    step = GANStep(StepModules(G, D, gc, gc, dc, dc), opt_g, opt_d, recipe, device=device, world=World(),
                   channels_last=v.fast)
    ema = EMA(G, cfg.ema_decay)
    images = torch.randint(0, 256, (8 * cfg.batch_size, 3, cfg.resolution, cfg.resolution), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    stream = BatchStream(images, cfg.batch_size, device, seed=0, flip=cfg.flip)
    noise = torch.Generator(device=device).manual_seed(1)
    counter = [0]

    def run(n: int) -> None:
        for _ in range(n):
            real = None
            for _ in range(cfg.n_critic):
                real = stream.next()
                z = torch.randn(cfg.batch_size, cfg.latent_dim, generator=noise, device=device)
                loss_d = step.d_step(real, z)
            z = torch.randn(cfg.batch_size, cfg.latent_dim, generator=noise, device=device)
            loss_g = step.g_step(real, z)
            counter[0] += 1
            ema.update(G, counter[0])
            step.record(counter[0], loss_d, loss_g)

    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="cifar10-large")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--steps", type=int, default=10, help="steps per timed window")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=3, help="warm-up steps (compilation included)")
    ap.add_argument("--compile", action="store_true", help="force torch.compile (also on the CPU)")
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--compile-modes", default="default",
                    help="comma-separated compile modes to measure, e.g. default,reduce-overhead")
    a = ap.parse_args()
    device = torch.device(a.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    cfg = resolve_config(a.preset, {"batch_size": a.batch_size})
    compile_on = not a.no_compile and (a.compile or device.type == "cuda")
    variants = [Variant("eager fp32 (TF32 off)", fast=False, compile=False)]
    if compile_on:
        variants += [Variant(f"default path, compile {m}", True, True, m) for m in a.compile_modes.split(",")]
    else:
        adam = "fused" if device.type == "cuda" else "foreach"
        variants += [Variant(f"bf16+channels_last+{adam} Adam, eager", True, False)]
    runs, warm = {}, {}
    for v in variants:  # build and warm up each (compile time reported on its own line)
        run = build(cfg, device, v)
        with tf32(v.fast):
            t0 = time.perf_counter()
            run(a.warmup)
            sync(device)
        warm[v.label] = time.perf_counter() - t0

        def timed(run=run, fast=v.fast):
            with tf32(fast):
                run(a.steps)

        runs[v.label] = timed
    secs = interleaved(runs, device, warmup=0, repeats=a.repeats)
    rates = {k: a.steps * cfg.batch_size / s for k, s in secs.items()}
    base = rates[variants[0].label]
    print(f"{'path':<44}{'img/s':>10}{'vs base':>9}{'warm-up s':>11}")
    for k, r in rates.items():
        print(f"{k:<44}{r:>10.1f}{r / base:>8.2f}x{warm[k]:>11.1f}")
    best = max(rates, key=rates.get)
    print(json.dumps({"bench": "train_throughput", "preset": a.preset, "batch": cfg.batch_size,
                      "device": device_name(device), "steps": a.steps, "repeats": a.repeats,
                      "includes": "D step + G step + EMA + loss bookkeeping + data stream",
                      "img_s": {k: round(r, 1) for k, r in rates.items()},
                      "warmup_s": {k: round(w, 1) for k, w in warm.items()},
                      "best": best, "ratio": round(rates[best] / base, 3)}))


if __name__ == "__main__":
    main()
