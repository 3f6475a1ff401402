"""Sampling throughput: the fast path (bf16 autocast, channels_last, torch.compile) vs eager fp32.

Same generator and batch; each variant warms up (compile included), then median of repeats with a
device sync around every batch. Prints a table and one JSON line with the ratios against eager fp32.

  python bench/sample_speed.py                                  # CPU: small stand-in, no compile
  python bench/sample_speed.py --generator cifar10-large --batch-size 1000   # GPU
"""

from __future__ import annotations

import argparse
import json

import torch
from _common import build_bench_generator, median_time

from ganctl.evaluate.generate import fast_path, make_noise, precision_autocast


def main() -> None:
    gpu = torch.cuda.is_available()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--generator", default="cifar10-large" if gpu else "small")
    ap.add_argument("--batch-size", type=int, default=1000 if gpu else 64)
    ap.add_argument("--repeats", type=int, default=20 if gpu else 5)
    ap.add_argument("--warmup", type=int, default=5 if gpu else 2)
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile variants")
    args = ap.parse_args()

    device = torch.device("cuda" if gpu else "cpu")
    G, gname = build_bench_generator(args.generator)
    G.to(device).eval()
    z = make_noise(args.batch_size, int(G.latent_dim), 0).to(device)
    variants = [
        ("eager fp32", "fp32", False, False),
        ("bf16", "bf16", False, False),
        ("bf16 + channels_last", "bf16", True, False),
    ]
    if gpu and not args.no_compile:
        variants += [
            ("bf16 + channels_last + compile", "bf16", True, True),
            ("fp32 + compile", "fp32", False, True),
        ]

    results = {}
    for label, precision, channels_last, compile_ in variants:
        with fast_path(G, device, channels_last, compile_) as fn, torch.no_grad():

            def step(fn=fn, precision=precision):
                with precision_autocast(device, precision):
                    return fn(z)

            seconds, _ = median_time(step, device, args.warmup, args.repeats)
        results[label] = args.batch_size / seconds

    base = results["eager fp32"]
    print(f"{'variant':<34}{'img/s':>12}{'vs fp32':>9}")
    for label, ips in results.items():
        print(f"{label:<34}{ips:>12.0f}{ips / base:>8.2f}x")
    print(
        json.dumps(
            {
                "bench": "sample_speed",
                "device": torch.cuda.get_device_name() if gpu else "cpu",
                "generator": gname,
                "batch_size": args.batch_size,
                "repeats": args.repeats,
                "img_per_s": {k: round(v, 1) for k, v in results.items()},
                "ratio_vs_eager_fp32": {k: round(v / base, 3) for k, v in results.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
