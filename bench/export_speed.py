"""ONNX Runtime CPU throughput: dense vs compressed (CP, Tucker-2) cifar10-large generator, exported by ganctl.

Each model is saved as a ganctl artifact, exported with `ganctl.export.export_generator` (which runs the
file and checks it against PyTorch), then timed in onnxruntime's CPU provider. Repeats are interleaved
(dense, cp, tucker, dense, ...) so machine load hits every model alike; the figure is the median.
Factors are random (apply_plan): speed does not depend on the values.

    python bench/export_speed.py [--batch 16] [--repeats 7] [--keep 0.333] [--threads 2] [--width 256]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (puts the repository on sys.path)
import numpy as np
import torch
from compress_speed import plan_for_fraction

from ganctl.compress.plan import apply_plan
from ganctl.export import export_generator
from ganctl.genotype import load_genotype
from ganctl.io.artifact import save_generator
from ganctl.models import build_generator, generator_spec
from ganctl.nn.factorised import num_params


def generator(width: int) -> torch.nn.Module:
    spec = generator_spec(load_genotype("mmd-adversarialnas-cifar10"), resolution=32, width=width, latent_dim=120)
    return build_generator(spec).eval()


def main() -> None:
    import onnxruntime as ort

    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--keep", type=float, default=1 / 3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--width", type=int, default=256)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    dense = generator(args.width)
    models = {"dense": dense}
    for method in ("cp", "tucker"):
        G = apply_plan(generator(args.width), plan_for_fraction(dense, args.keep, method)).eval()
        G.spec = {**G.spec, "decomposition": plan_for_fraction(dense, args.keep, method)}
        models[method] = G
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = args.threads
    opts.inter_op_num_threads = 1
    sessions, params = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, G in models.items():
            save_generator(Path(tmp) / f"{name}.safetensors", G)
            onnx_path = Path(tmp) / f"{name}.onnx"
            export_generator(Path(tmp) / f"{name}.safetensors", onnx_path, "onnx", batch=args.batch, dynamic_batch=True)
            sessions[name] = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
            params[name] = num_params(G)
        z = np.random.default_rng(0).standard_normal((args.batch, 120)).astype(np.float32)
        for s in sessions.values():  # warm-up: graph optimisation and allocations happen on the first run
            s.run(None, {"z": z})
        times: dict[str, list[float]] = {n: [] for n in sessions}
        for _ in range(args.repeats):
            for name, s in sessions.items():
                t = time.perf_counter()
                s.run(None, {"z": z})
                times[name].append(time.perf_counter() - t)
    ips = {n: args.batch / statistics.median(t) for n, t in times.items()}
    print(f"onnxruntime {ort.__version__} CPU, {args.threads} threads, batch {args.batch}, "
          f"median of {args.repeats} interleaved repeats")
    print(f"{'model':<8} {'params':>10} {'img/s':>9} {'vs dense':>9}")
    for n in sessions:
        print(f"{n:<8} {params[n] / 1e6:>9.2f}M {ips[n]:>9.2f} {ips[n] / ips['dense']:>8.2f}×")
    print(json.dumps({"batch": args.batch, "threads": args.threads, "params": params, "img_per_s": ips,
                      "ratio_vs_dense": {n: ips[n] / ips["dense"] for n in ips}}))


if __name__ == "__main__":
    main()
