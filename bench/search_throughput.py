"""Search iterations/s for a preset: the fast path (bf16 autocast, channels_last[, compile]) vs eager fp32.

Both variants run in the same process on random data of the preset's shape (no download), after
warm-up, with device synchronisation, taking the median of `--repeats` timed windows. Prints a table
and one JSON line with the ratio and the projected end-to-end time of the preset's schedule.

    python bench/search_throughput.py --preset cifar10              # on a GPU
    python bench/search_throughput.py --preset tiny --device cpu    # runs anywhere
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from ganctl.data.imagedata import make_image_data
from ganctl.device import resolve_device, seed_all
from ganctl.search.config import make_config
from ganctl.search.fastpath import FastPath


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(method: str, preset: str, device: torch.device, fast: FastPath, iters: int, warmup: int,
            repeats: int) -> float:
    cfg = make_config(method, preset, out="unused", device=str(device))
    n = max(4 * cfg.batch_size, 64)
    images = torch.randint(0, 256, (n, 3, cfg.resolution, cfg.resolution), dtype=torch.uint8)
    data = make_image_data(images, name="random", kind="npz", source="benchmark", fingerprint="bench")
    seed_all(0)
    if method == "adversarialnas":
        from ganctl.search.adversarialnas import AdversarialNAS
        strategy = AdversarialNAS(cfg, data, device, fast)
    else:
        from ganctl.search.alphagan import AlphaGAN
        strategy = AlphaGAN(cfg, data, device, fast)
    step = 0
    for _ in range(warmup):
        strategy.step(step)
        step += 1
    _sync(device)
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(iters):
            strategy.step(step)
            step += 1
        _sync(device)
        rates.append(iters / (time.perf_counter() - t0))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cifar10")
    parser.add_argument("--method", default="adversarialnas", choices=("adversarialnas", "alphagan"))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compile", action="store_true", help="add torch.compile to the fast path")
    args = parser.parse_args()
    device = resolve_device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = False  # eager fp32 means fp32
        torch.backends.cudnn.allow_tf32 = False
    variants = {"eager-fp32": FastPath(device),
                "fast": FastPath.choose(device, "auto", channels_last=True, compile=args.compile)}
    cfg = make_config(args.method, args.preset, out="unused")
    rates = {}
    for name, fast in variants.items():
        rates[name] = measure(args.method, args.preset, device, fast, args.iters, args.warmup, args.repeats)
    ratio = rates["fast"] / rates["eager-fp32"]
    print(f"{'variant':<12} {'path':<28} {'iter/s':>10} {'projected':>12}")
    for name, fast in variants.items():
        hours = cfg.steps / rates[name] / 3600
        print(f"{name:<12} {fast.describe():<28} {rates[name]:>10.3f} {hours:>11.2f}h")
    print(json.dumps({"bench": "search_throughput", "method": args.method, "preset": args.preset,
                      "device": str(device), "steps": cfg.steps, "iters_per_s": rates,
                      "fast_path": variants["fast"].describe(), "ratio_fast_over_eager": round(ratio, 3),
                      "projected_hours": {k: round(cfg.steps / v / 3600, 3) for k, v in rates.items()}}))


if __name__ == "__main__":
    main()
