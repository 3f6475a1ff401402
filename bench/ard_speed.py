"""ARD (`compress --rank auto`) cost on the large generator: probes on the device, projected to all layers.

Runs the real ARD search (`ganctl.compress.ranks.ard_search`: float64 fits on the model's device, CP
fits warm-started up each layer's candidate ranks, the quality proxy scored in the train precision) on
the first `--layers` decomposable k×k convolutions, then projects the per-probe cost to every probe
of the whole generator. Baseline in the same run: one fit of the first probed layer on the CPU (where
fits ran before) against the same fit on the device.

    python bench/ard_speed.py                                  # GPU: cifar10-large, 1,000 probe samples
    python bench/ard_speed.py --device cpu --generator small --layers 1 --probe-samples 64   # smoke
"""
from __future__ import annotations

import argparse
import json
import time

import torch
from _common import RefData, build_bench_generator, device_name, sync

from ganctl.compress import ranks as rk
from ganctl.compress.decompose import decompose_layer
from ganctl.compress.plan import select_layers
from ganctl.evaluate import QualityProxy
from ganctl.runtime import AUTO, resolve_precision


def main() -> None:
    gpu = torch.cuda.is_available()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if gpu else "cpu")
    ap.add_argument("--generator", default="cifar10-large")
    ap.add_argument("--layers", type=int, default=2, help="k×k conv layers to probe for the projection")
    ap.add_argument("--probe-samples", type=int, default=1000)
    ap.add_argument("--fit-iters", type=int, default=50)
    ap.add_argument("--extractor", default="auto")
    args = ap.parse_args()
    device = torch.device(args.device)
    G, gname = build_bench_generator(args.generator)
    G = G.to(device).eval()
    every = select_layers(G, [])
    convs = {n: m for n, m in every.items() if getattr(m, "kernel_size", (1, 1)) != (1, 1)}
    probed = dict(list(convs.items())[: args.layers])
    proxy = QualityProxy(RefData(args.probe_samples, int(G.resolution)), n_samples=args.probe_samples,
                         extractor=args.extractor, seed=0, batch_size=min(500, args.probe_samples), device=device,
                         precision=resolve_precision(AUTO, device), use_cache=False)
    cost = rk.ProbeCost()
    t0 = time.perf_counter()
    rk.ard_search(G, probed, "cp", proxy.score, n_iter=args.fit_iters, cost=cost)
    wall = time.perf_counter() - t0
    per_probe = (cost.fit_s + cost.score_s) / max(cost.probes, 1)
    total = sum(len(rk.candidate_ranks(m, "cp")) for m in every.values())
    projected = total * per_probe + cost.score_s / max(cost.probes, 1)  # + the baseline score
    name, layer = next(iter(probed.items()))
    rank = rk.candidate_ranks(layer, "cp")[0]
    times = {}
    for where in ("cpu", str(device)):
        sync(device)
        t = time.perf_counter()
        decompose_layer(layer, "cp", rank, n_iter=args.fit_iters, device=where)
        sync(device)
        times[where] = time.perf_counter() - t
    row = {"bench": "ard_speed", "device": device_name(device), "generator": gname, "extractor": proxy.extractor.name,
           "probe_samples": args.probe_samples, "probes_timed": cost.probes, "wall_s": round(wall, 2),
           "fit_s": round(cost.fit_s, 2), "score_s": round(cost.score_s, 2), "per_probe_s": round(per_probe, 3),
           "probes_total": total, "projected_min": round(projected / 60, 2),
           "one_fit_cpu_s": round(times["cpu"], 3), "one_fit_device_s": round(times[str(device)], 3),
           "fit_ratio_cpu_over_device": round(times["cpu"] / times[str(device)], 2), "fit_layer": name,
           "fit_rank": rank}
    print(f"{cost.probes} probes timed in {wall:.1f} s ({per_probe:.2f} s each: fits {cost.fit_s:.1f} s, "
          f"scores {cost.score_s:.1f} s); {total} probes in all -> projected {projected / 60:.1f} min")
    print(f"one fit of {name} at rank {rank}: CPU {times['cpu']:.2f} s, {device} {times[str(device)]:.2f} s")
    print(json.dumps(row))


if __name__ == "__main__":
    main()
