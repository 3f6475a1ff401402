"""Train-step speed: one D call on cat(real, fake) ("joint", the -fast presets) vs two calls
("separate", the paper's code and the paper presets), in the same run, interleaved repeats, medians.
A third arm, "joint-1call", makes the G step's D call on cat(real, fake) too (as ganctl did before
the G step scored real without autograd): the same maths, with a backward pass through D for real.

    python bench/d_forward.py                                  # cifar10-large sizes, batch 128 (GPU)
    python bench/d_forward.py --preset tiny --batch-size 16 --device cpu
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from ganctl.core.step import GANStep, StepModules
from ganctl.recipe import Recipe
from ganctl.runtime import World
from ganctl.train.config import resolve_config
from ganctl.train.loop import build_models


class OneCallGStep(GANStep):
    """The baseline G step: real and fake through the frozen D in one call, backward over both halves."""

    def _d_outputs(self, d, real, fake, *, d_frozen=False):
        return super()._d_outputs(d, real, fake)


def make_step(cfg, device: torch.device, arm: str) -> GANStep:
    torch.manual_seed(0)
    G, D = build_models(cfg)
    G, D = G.to(device), D.to(device)
    mods = StepModules(G, D, G, G, D, D)
    d_forward = "separate" if arm == "separate" else "joint"
    return (OneCallGStep if arm == "joint-1call" else GANStep)(mods, torch.optim.Adam(G.parameters(), 2e-4, betas=(0.0, 0.9)),
                   torch.optim.Adam(D.parameters(), 2e-4, betas=(0.0, 0.9)),
                   Recipe(loss="mmd", bound_lower=0.25, mmd_modified_weight=1e-4, dgl_weight=0.0, precision="fp32",
                          d_forward=d_forward), device=device, world=World())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="cifar10-large")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--steps", type=int, default=5, help="train steps (D step + G step) per timing")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    over = {"batch_size": args.batch_size} if args.batch_size else {}
    cfg = resolve_config(args.preset, over)
    device = torch.device(args.device)
    steps = {arm: make_step(cfg, device, arm) for arm in ("joint", "joint-1call", "separate")}
    real = torch.rand(cfg.batch_size, 3, cfg.resolution, cfg.resolution, device=device) * 2 - 1

    def run(step: GANStep, n: int) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(n):
            z = torch.randn(cfg.batch_size, cfg.latent_dim, device=device)
            step.d_step(real, z)
            step.g_step(real, torch.randn_like(z))
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t

    for step in steps.values():
        run(step, 2)  # warm-up
    times: dict[str, list[float]] = {m: [] for m in steps}
    for _ in range(args.repeats):  # interleaved, so load changes hit both alike
        for mode, step in steps.items():
            times[mode].append(run(step, args.steps))
    med = {m: statistics.median(v) for m, v in times.items()}
    print(f"device {device}, preset {args.preset}, batch {cfg.batch_size}, fp32, {args.steps} steps x "
          f"{args.repeats} repeats (medians)")
    for mode, t in med.items():
        print(f"  {mode:11s} {args.steps * cfg.batch_size / t:9.1f} img/s")
    print(f"joint / separate speed ratio: {med['separate'] / med['joint']:.2f}x")
    print(f"joint / joint-1call speed ratio (G step without backward through D for real): "
          f"{med['joint-1call'] / med['joint']:.2f}x")


if __name__ == "__main__":
    main()
