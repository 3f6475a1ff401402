"""Dense vs compressed cifar10-large generator: params, MACs, batch-1 latency, batch-256 throughput.

The compressed model keeps about one third of the parameters: every decomposable layer gets the same
fraction of its break-even rank (CP for k>1 convs, SVD for linear / 1×1), found by bisection. Factors
are random (apply_plan) — speed does not depend on the values. Also times `compress --rank auto` end
to end on a small setting (tiny generator, shapes data, randconv proxy).

    python bench/compress_speed.py [--device cpu|cuda] [--batch 256] [--repeats 5] [--precision fp32|bf16]
                                   [--methods cp,tucker] [--skip-auto]

Each compressed model is compared with the dense one in the same memory format (contiguous and
channels_last), and best-against-best. All variants are resident at once and timed interleaved.
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
import time
from pathlib import Path

import torch
from _common import interleaved, tf32

from ganctl.compress.decompose import dense_params, factorised_params, parity_rank
from ganctl.compress.plan import apply_plan, decomposable_layers, plan_entry
from ganctl.nn.factorised import num_params


def large_generator() -> torch.nn.Module:
    from ganctl.genotype import load_genotype
    from ganctl.models import build_generator, generator_spec

    return build_generator(
        generator_spec(
            load_genotype("mmd-adversarialnas-cifar10"),
            resolution=32,
            width=256,
            latent_dim=120,
            activation="pmish",
        )
    )


def plan_for_fraction(G: torch.nn.Module, keep: float, method: str = "cp") -> list[dict]:
    layers = decomposable_layers(G)
    total = num_params(G)

    def plan(f: float) -> list[dict]:
        return [
            plan_entry(n, m, method, max(1, int(f * parity_rank(m, method))))
            for n, m in layers.items()
            if parity_rank(m, method) >= 1
        ]

    lo, hi = 0.01, 1.0
    for _ in range(20):
        mid = (lo + hi) / 2
        saved = sum(dense_params(layers[e["layer"]]) - factorised_params(layers[e["layer"]], e["method"], e["rank"])
                    for e in plan(mid))
        lo, hi = (mid, hi) if total - saved <= keep * total else (lo, mid)
    return plan(lo)


def forward_fn(G: torch.nn.Module, batch: int, device: torch.device, precision: str):
    """One no-grad forward at `batch` in `precision` (fp32 means TF32 off), for interleaved timing."""
    z = torch.randn(batch, int(G.latent_dim), device=device)

    @torch.no_grad()
    def run() -> None:
        with tf32(False), torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            G(z)

    return run


def macs(G: torch.nn.Module) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        G(torch.zeros(1, int(G.latent_dim)))
    return counter.get_total_flops() // 2


def time_auto(device: torch.device) -> float:
    from ganctl.compress.stage import CompressConfig, compress
    from ganctl.genotype import load_genotype
    from ganctl.io.artifact import save_generator
    from ganctl.models import build_generator, generator_spec

    with tempfile.TemporaryDirectory() as tmp:
        G = build_generator(generator_spec(load_genotype("tiny"), resolution=32, width=16, latent_dim=12))
        save_generator(Path(tmp) / "g.safetensors", G)
        t = time.perf_counter()
        compress(
            CompressConfig(
                artifact=str(Path(tmp) / "g.safetensors"),
                out=str(Path(tmp) / "out"),
                rank="auto",
                target_params=0.5,
                data="shapes",
                probe_samples=256,
                extractor="randconv",
                fit_iters=25,
                device=str(device),
            )
        )
        return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--keep", type=float, default=1 / 3)
    ap.add_argument("--precision", choices=["fp32", "bf16"], default=None, help="default: bf16 on CUDA, fp32 on CPU")
    ap.add_argument("--methods", default="cp,tucker")
    ap.add_argument("--skip-auto", action="store_true")
    args = ap.parse_args()
    device = torch.device(args.device)
    args.precision = args.precision or ("bf16" if device.type == "cuda" else "fp32")
    dense = large_generator().eval()
    models = {"dense": dense}
    for method in args.methods.split(","):
        models[method] = apply_plan(large_generator(), plan_for_fraction(dense, args.keep, method)).eval()
    rows = {}
    placed = {}
    for name, G in models.items():
        m = macs(G)
        for layout in ("contiguous", "channels_last"):
            copy_ = copy.deepcopy(G).to(device)
            if layout == "channels_last":
                copy_ = copy_.to(memory_format=torch.channels_last)
            placed[f"{name}/{layout}"] = copy_
            rows[f"{name}/{layout}"] = {"params": num_params(G), "macs_per_image": m}
    # every model and layout timed interleaved (A, B, C, …, A, B, C, …), medians
    lat = interleaved({k: forward_fn(G, 1, device, args.precision) for k, G in placed.items()},
                      device, warmup=2, repeats=args.repeats * 4)
    thr = interleaved({k: forward_fn(G, args.batch, device, args.precision) for k, G in placed.items()},
                      device, warmup=1, repeats=args.repeats)
    for k, r in rows.items():
        r.update({"latency_ms_b1": lat[k] * 1e3, "images_per_s_b1": 1 / lat[k],
                  f"images_per_s_b{args.batch}": args.batch / thr[k]})
    print(f"device={device} threads={torch.get_num_threads()} {args.precision} batch={args.batch} keep={args.keep:.3f}")
    keys = list(rows["dense/contiguous"])
    print(f"{'':26}" + "".join(f"{k:>20}" for k in keys))
    for name, r in rows.items():
        print(f"{name:26}" + "".join(f"{r[k]:>20,.2f}" for k in keys))
    tb = f"images_per_s_b{args.batch}"
    result = {"device": str(device), "precision": args.precision, "batch": args.batch, "rows": rows, "ratios": {}}
    for name in models:
        if name == "dense":
            continue
        for layout in ("contiguous", "channels_last"):
            c, d = rows[f"{name}/{layout}"], rows[f"dense/{layout}"]
            result["ratios"][f"{name}/{layout}"] = {
                "param_ratio": c["params"] / d["params"],
                "mac_ratio": c["macs_per_image"] / d["macs_per_image"],
                "speedup_b1": c["images_per_s_b1"] / d["images_per_s_b1"],
                f"speedup_b{args.batch}": c[tb] / d[tb],
            }
    best_dense = max(rows[f"dense/{lay}"][tb] for lay in ("contiguous", "channels_last"))
    result["best_compressed_vs_best_dense"] = {
        name: max(rows[f"{name}/{lay}"][tb] for lay in ("contiguous", "channels_last")) / best_dense
        for name in models if name != "dense"
    }
    for name, r in result["ratios"].items():
        print(f"{name:26} params x{r['param_ratio']:.3f}  MACs x{r['mac_ratio']:.3f}  "
              f"speed-up b1 {r['speedup_b1']:.2f}x  b{args.batch} {r[f'speedup_b{args.batch}']:.2f}x")
    if not args.skip_auto:
        result["rank_auto_seconds_small"] = time_auto(device)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
