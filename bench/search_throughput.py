"""Search iterations/s for a preset: the fast path (bf16 autocast, channels_last[, compile]) vs eager fp32.

Both variants run in the same process on random data of the preset's shape (no download), after
warm-up, timed interleaved (A, B, A, B, …) with device synchronisation, median of `--repeats` windows;
the fp32 baseline has TF32 off. Prints a table and one JSON line with the ratio and the projected time
of the paper's full search schedule (48.5k iterations) and of the preset's own.

    python bench/search_throughput.py --preset paper                # on a GPU (falls back to cifar10)
    python bench/search_throughput.py --preset tiny --device cpu    # runs anywhere
"""
from __future__ import annotations

import argparse
import json
import sys

import torch
from _common import device_name, interleaved, tf32

from ganctl.data.imagedata import make_image_data
from ganctl.runtime import resolve_device, seed_all
from ganctl.search.config import make_config
from ganctl.search.fastpath import FastPath

# The seed paper's search schedule (reference-facts §4: batch 128, n_critic 5, max_epoch_D 125 ≈ 48.5k D
# iterations). ganctl counts one D update per search iteration, so this is the number of iterations a
# full search takes whatever the preset's own (possibly shorter) `steps` says.
PAPER_SEARCH_ITERS = 48_500


def build(method: str, preset: str, device: torch.device, fast: FastPath):
    """A search strategy on random data of the preset's shape, and a closure running n iterations."""
    cfg = make_config(method, preset, out="unused", device=str(device))
    n = max(4 * cfg.batch_size, 64)
    images = torch.randint(0, 256, (n, 3, cfg.resolution, cfg.resolution), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    data = make_image_data(images, name="random", kind="npz", source="benchmark", fingerprint="bench")
    seed_all(0)
    if method == "adversarialnas":
        from ganctl.search.adversarialnas import AdversarialNAS
        strategy = AdversarialNAS(cfg, data, device, fast)
    else:
        from ganctl.search.alphagan import AlphaGAN
        strategy = AlphaGAN(cfg, data, device, fast)
    counter = [0]

    def run(iters: int) -> None:
        for _ in range(iters):
            strategy.step(counter[0])
            counter[0] += 1

    return cfg, run


def resolve_preset(preset: str, method: str) -> str:
    """`paper` is added by another change; until it exists, fall back to the cifar10 preset (said so)."""
    from ganctl.search.config import PRESETS

    if preset in PRESETS and method in PRESETS[preset]:
        return preset
    fallback = "cifar10"
    print(f"# search preset {preset!r} not available; using {fallback!r}", file=sys.stderr)
    return fallback


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--method", default="adversarialnas", choices=("adversarialnas", "alphagan"))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compile", action="store_true", help="add torch.compile to the fast path")
    args = parser.parse_args()
    device = resolve_device(args.device)
    preset = resolve_preset(args.preset, args.method)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    paths = {"eager-fp32": FastPath(device),
             "fast": FastPath.choose(device, "auto", channels_last=True, compile=args.compile)}
    runs, cfg = {}, None
    for name, fast in paths.items():
        cfg, run = build(args.method, preset, device, fast)

        def window(run=run, fp32=name == "eager-fp32"):
            with tf32(not fp32):  # the fp32 baseline is true fp32
                run(args.iters)

        with tf32(name != "eager-fp32"):
            run(args.warmup)
        runs[name] = window
    secs = interleaved(runs, device, warmup=0, repeats=args.repeats)
    rates = {k: args.iters / s for k, s in secs.items()}
    ratio = rates["fast"] / rates["eager-fp32"]
    print(f"{'variant':<12} {'path':<28} {'iter/s':>10} {'preset sched.':>14} {'paper sched.':>13}")
    for name, fast in paths.items():
        print(f"{name:<12} {fast.describe():<28} {rates[name]:>10.3f} {cfg.steps / rates[name] / 3600:>13.2f}h"
              f" {PAPER_SEARCH_ITERS / rates[name] / 3600:>12.2f}h")
    print(json.dumps({"bench": "search_throughput", "method": args.method, "preset": preset,
                      "device": device_name(device), "preset_steps": cfg.steps,
                      "paper_iters": PAPER_SEARCH_ITERS, "iters_per_s": rates,
                      "fast_path": paths["fast"].describe(), "ratio_fast_over_eager": round(ratio, 3),
                      "projected_hours_paper": {k: round(PAPER_SEARCH_ITERS / v / 3600, 3)
                                                for k, v in rates.items()},
                      "projected_hours_preset": {k: round(cfg.steps / v / 3600, 3) for k, v in rates.items()}}))


if __name__ == "__main__":
    main()
