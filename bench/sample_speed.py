"""Sampling throughput: the fast path (bf16 autocast, channels_last, torch.compile) vs eager fp32.

Same generator and batch; each variant warms up (compile included), then variants are timed
interleaved (A, B, A, B, …) with a device sync around every batch, median of repeats. Prints a table and one JSON line with the ratios against eager fp32.

  python bench/sample_speed.py                                  # CPU: small stand-in, no compile
  python bench/sample_speed.py --generator cifar10-large --batch-size 1000   # GPU
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json

import torch
from _common import build_bench_generator, device_name, interleaved, tf32

from ganctl.evaluate.generate import fast_path, make_noise, precision_autocast


def main() -> None:
    gpu = torch.cuda.is_available()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--generator", default="cifar10-large" if gpu else "small")
    ap.add_argument("--batch-size", type=int, default=1000 if gpu else 64)
    ap.add_argument("--repeats", type=int, default=20 if gpu else 5)
    ap.add_argument("--warmup", type=int, default=5 if gpu else 2)
    ap.add_argument("--device", default="cuda" if gpu else "cpu")
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile variants")
    args = ap.parse_args()

    device = torch.device(args.device)
    cuda = device.type == "cuda"
    G, gname = build_bench_generator(args.generator)
    G.eval()
    z = make_noise(args.batch_size, int(G.latent_dim), 0).to(device)
    variants = [
        ("eager fp32 (TF32 off)", "fp32", False, False),
        ("bf16", "bf16", False, False),
        ("bf16 + channels_last", "bf16", True, False),
    ]
    if cuda and not args.no_compile:
        variants += [("bf16 + channels_last + compile", "bf16", True, True)]

    fns = {}
    with contextlib.ExitStack() as stack:
        for label, precision, channels_last, compile_ in variants:
            # each variant its own copy: interleaved timing needs them all resident at once
            fn = stack.enter_context(fast_path(copy.deepcopy(G), device, channels_last, compile_))

            def step(fn=fn, precision=precision):
                with torch.no_grad(), tf32(precision != "fp32"), precision_autocast(device, precision):
                    return fn(z)

            fns[label] = step
        secs = interleaved(fns, device, args.warmup, args.repeats)
    results = {k: args.batch_size / s for k, s in secs.items()}

    base = results["eager fp32 (TF32 off)"]
    print(f"{'variant':<34}{'img/s':>12}{'vs fp32':>9}")
    for label, ips in results.items():
        print(f"{label:<34}{ips:>12.0f}{ips / base:>8.2f}x")
    print(
        json.dumps(
            {
                "bench": "sample_speed",
                "device": device_name(device),
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
