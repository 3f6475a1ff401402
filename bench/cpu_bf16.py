"""The main job's CPU training choice: the `tiny` preset as it is (D width 32, fp32) against D width 48 under
bf16 autocast (what examples/pipeline.sh trains on CPUs with bf16 instructions), and D width 48 in fp32 for
scale; train steps (D step + G step, channels_last, Adam as the loop makes it) timed interleaved, medians.

    python bench/cpu_bf16.py                      # tiny preset, batch 64, the machine's threads
On a CPU without bf16 instructions the bf16 arm is emulated and slow; this measures, not assumes, that.
"""
from __future__ import annotations

import argparse
import json

import torch
from _common import interleaved

from ganctl.core.optim import make_adam
from ganctl.core.step import GANStep, StepModules
from ganctl.runtime import World
from ganctl.train.config import resolve_config
from ganctl.train.loop import build_models

ARMS = {"d32-fp32": (32, "fp32"), "d48-bf16": (48, "bf16"), "d48-fp32": (48, "fp32")}


def make_step(preset: str, d_width: int, precision: str, device: torch.device) -> tuple[GANStep, object]:
    cfg = resolve_config(preset, {"d_width": d_width, "precision": precision})
    torch.manual_seed(0)
    G, D = build_models(cfg)
    G = G.to(device, memory_format=torch.channels_last)
    D = D.to(device, memory_format=torch.channels_last)
    betas = (cfg.beta1, cfg.beta2)
    step = GANStep(StepModules(G, D, G, G, D, D), make_adam(G.parameters(), cfg.lr_g, betas, device),
                   make_adam(D.parameters(), cfg.lr_d, betas, device),
                   cfg.recipe().replace(dgl_weight=0.0, precision=precision), device=device, world=World(),
                   channels_last=True)
    return step, cfg


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--steps", type=int, default=5, help="train steps per timing")
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    device = torch.device("cpu")
    built = {arm: make_step(args.preset, w, p, device) for arm, (w, p) in ARMS.items()}
    cfg = built["d32-fp32"][1]
    real = (torch.rand(cfg.batch_size, 3, cfg.resolution, cfg.resolution) * 2 - 1).contiguous(
        memory_format=torch.channels_last)

    def train(step: GANStep):
        def run() -> None:
            for _ in range(args.steps):
                z = torch.randn(cfg.batch_size, cfg.latent_dim)
                step.d_step(real, z)
                step.g_step(real, torch.randn_like(z))
        return run

    times = interleaved({arm: train(step) for arm, (step, _) in built.items()}, device, warmup=2,
                        repeats=args.repeats)
    img_s = {arm: args.steps * cfg.batch_size / t for arm, t in times.items()}
    print(f"cpu, preset {args.preset}, batch {cfg.batch_size}, channels_last, {torch.get_num_threads()} threads, "
          f"{args.steps} steps x {args.repeats} repeats (medians)")
    for arm, v in img_s.items():
        print(f"  {arm:9s} {v:8.1f} img/s   {times['d32-fp32'] / times[arm]:.2f}x the preset")
    print(json.dumps({"bench": "cpu_bf16", "preset": args.preset, "batch": cfg.batch_size,
                      "threads": torch.get_num_threads(), "img_s": img_s,
                      "ratio_vs_preset": {arm: times["d32-fp32"] / t for arm, t in times.items()}}))


if __name__ == "__main__":
    main()
