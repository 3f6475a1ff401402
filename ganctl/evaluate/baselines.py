"""Two reference points that make a FID/KID readable: held-out real images (the floor) and matched
noise (the ceiling), scored with exactly the protocol `ganctl evaluate` used for the generators.

A number like "FID 41" means little alone; between "real images not seen in training: 3" and
"noise with the data's per-pixel mean and std: 310" it says how much of the way the generator went.

- floor: real images outside the reference set. Procedural built-in sets (`shapes`, `sprites`) are
  drawn afresh with another seed; any other dataset gives the images its reference subset left out.
- ceiling: independent Gaussian noise per pixel and channel with the reference images' per-pixel
  mean and standard deviation (float64), rounded and clamped to uint8. It has the data's colour
  statistics pixel by pixel and none of its structure.

`ganctl evaluate --reference-points` scores both next to the generators, with the evaluation's own
protocol and resolution, into metrics.json (what examples/pipeline.sh does). Standalone:
    python -m ganctl.evaluate.baselines --data sprites --resolution 16 --num-samples 1000
    --num-reference 2000 --extractor randconv --out baselines.json
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch

from ganctl.data import ImageData, load_data
from ganctl.data.registry import parse_data_arg
from ganctl.errors import DataError, GanctlError
from ganctl.evaluate.api import EvalRequest
from ganctl.evaluate.extractors import extract_features
from ganctl.evaluate.protocol import parse_metrics
from ganctl.evaluate.reference import ImageDataLike, reference_indices, reference_stats
from ganctl.evaluate.stats import feature_stats, frechet_distance, kernel_inception_distance
from ganctl.io.atomic import atomic_write_json
from ganctl.runtime import resolve_device

PROCEDURAL = ("shapes", "sprites")
FLOOR = "held-out real images (not in the reference set)"
CEILING = "per-pixel Gaussian noise with the reference images' per-pixel mean and std"


def matched_noise(images: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """n uint8 images of independent per-pixel noise matching `images`' per-pixel mean and std."""
    x = images.to(torch.float64)
    mean, std = x.mean(0), x.std(0, unbiased=False)
    gen = torch.Generator().manual_seed(int(seed))
    draws = torch.randn((n, *mean.shape), generator=gen, dtype=torch.float64)
    return (mean + std * draws).round().clamp(0, 255).to(torch.uint8)


def heldout_images(data_arg: str, data: ImageDataLike, n: int, num_reference: int | None, seed: int,
                   resolution: int) -> torch.Tensor:
    """n real images the reference statistics did not see (see the module docstring for how)."""

    kind, _ = parse_data_arg(data_arg)
    if kind in PROCEDURAL:
        return load_data(data_arg, resolution=resolution, seed=seed + 1_000_003, max_images=n).images
    total = int(data.images.shape[0])
    used = reference_indices(total, num_reference, 0)
    if used is None:
        raise DataError(f"{data_arg}: every image is in the reference set; pass --num-reference below {total}")
    keep = torch.ones(total, dtype=torch.bool)
    keep[used] = False
    rest = keep.nonzero().squeeze(1)
    if rest.numel() < n:
        raise DataError(f"{data_arg}: only {rest.numel()} images outside the reference set, {n} needed")
    pick = torch.randperm(rest.numel(), generator=torch.Generator().manual_seed(seed))[:n]
    return data.images[rest[pick].sort().values]


def score_images(images: torch.Tensor, data: ImageDataLike, metrics: list[str], num_samples: int,
                 num_reference: int | None, extractor: Any, device: torch.device,
                 batch_size: int = 250) -> dict[str, float]:
    """FID/KID of an image set, named and computed as `ganctl evaluate` does for a generator."""
    requests = parse_metrics(metrics, num_samples)
    ref = reference_stats(data, extractor, num_reference, device=device, batch_size=batch_size,
                          need_features=any(r.kind == "kid" for r in requests))
    feats = extract_features(extractor, images.split(batch_size), device).features
    out: dict[str, float] = {}
    for req in requests:
        f = feats[: req.num_samples]
        if req.kind == "fid":
            out[req.name(extractor.name)] = frechet_distance(feature_stats(f), ref.stats)
        elif req.kind == "kid":
            out[req.name(extractor.name)] = kernel_inception_distance(f, ref.features)["mean"]
    return out


def reference_points(data_arg: str, req: EvalRequest, *, seed: int = 0, resolution: int | None = None,
                     data: ImageData | None = None) -> dict[str, Any]:
    """{"floor": {metric: value}, "ceiling": {...}, how each was made, and the extractor used}.

    Of `req` it uses metrics, num_samples, num_reference, extractor, inception_weights and device.
    `data`: the reference data already loaded as `ganctl evaluate` loads it (else loaded here);
    `ganctl evaluate --reference-points` passes its own, with its protocol."""
    metrics, num_samples, num_reference = list(req.metrics), req.num_samples, req.num_reference
    dev = req.device if isinstance(req.device, torch.device) else resolve_device(req.device)
    if data is None:
        data = load_data(data_arg, resolution=resolution, seed=0)  # as `ganctl evaluate` loads it
    res = int(data.images.shape[-1])
    ext, fallback = req.resolved_extractor(dev)  # the one the evaluation itself used, if it ran first
    n = max(r.num_samples for r in parse_metrics(metrics, num_samples))  # fid10k names its own count
    floor_images = heldout_images(data_arg, data, n, num_reference, seed, res)
    ref_idx = reference_indices(len(data), num_reference, 0)
    ref_images = data.images if ref_idx is None else data.images[ref_idx]
    ceiling_images = matched_noise(ref_images, n, seed)
    result: dict[str, Any] = {
        "format": "ganctl.baselines",
        "version": 1,
        "data": data.name,
        "fingerprint": data.fingerprint,
        "extractor": ext.name,
        "extractor_is_proxy": ext.is_proxy,
        "num_samples": num_samples,
        "num_reference": num_reference,
        "floor_kind": FLOOR,
        "ceiling_kind": CEILING,
        "floor": score_images(floor_images, data, metrics, num_samples, num_reference, ext, dev, req.batch_size),
        "ceiling": score_images(ceiling_images, data, metrics, num_samples, num_reference, ext, dev,
                                req.batch_size),
    }
    if fallback:
        result["fallback"] = fallback
    return result


def main(argv: list[str]) -> int:

    p = argparse.ArgumentParser(prog="python -m ganctl.evaluate.baselines", description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--metrics", default="fid,kid")
    p.add_argument("--num-samples", type=int, required=True)
    p.add_argument("--num-reference", type=int, default=None)
    p.add_argument("--extractor", default="auto")
    p.add_argument("--inception-weights", default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resolution", type=int, default=None, help="as given to ganctl evaluate (default: the data's)")
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args(argv)
    try:
        req = EvalRequest(metrics=a.metrics.split(","), num_samples=a.num_samples, num_reference=a.num_reference,
                          extractor=a.extractor, inception_weights=a.inception_weights, device=a.device)
        result = reference_points(a.data, req, seed=a.seed, resolution=a.resolution)
    except GanctlError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    atomic_write_json(a.out, result)
    print(a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
