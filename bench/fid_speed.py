"""FID end to end in memory (ganctl) vs writing PNGs and scoring the folder with torch-fidelity.

Same generator, seed, extractor and reference statistics (warm caches on both sides), timed
interleaved; prints a table, then one JSON line with the per-image ratio folder / memory and both FIDs
(equal up to float noise, since PNG is lossless, when --folder-n equals --n).

CPU default:  python bench/fid_speed.py                      (2000 samples, randconv extractor)
GPU:          python bench/fid_speed.py --generator cifar10-large --n 50000 --extractor inception-v3-compat \
                  --inception-weights /root/pt_inception.pth
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch
from _common import build_bench_generator, interleaved, load_bench_data
from PIL import Image
from torch.utils.data import Dataset

from ganctl.evaluate.extractors import (
    INCEPTION,
    RANDCONV,
    RandConvFeatures,
    build_extractor,
    extract_features,
)
from ganctl.evaluate.generate import generate_uint8, iter_uint8
from ganctl.evaluate.reference import reference_stats
from ganctl.evaluate.stats import feature_stats, frechet_distance


class _Uint8Dataset(Dataset):
    def __init__(self, images: torch.Tensor):
        self.images = images

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i]


def main() -> None:
    gpu = torch.cuda.is_available()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50_000 if gpu else 2000)
    ap.add_argument("--generator", default="cifar10-large" if gpu else "small")
    ap.add_argument("--extractor", default=INCEPTION if gpu else RANDCONV)
    ap.add_argument("--inception-weights", default=None)
    ap.add_argument("--data", default=None, help="dataset name for ganctl.data.load_data; default synthetic")
    ap.add_argument("--batch-size", type=int, default=500 if gpu else 250)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--precision", default="auto", help="generator precision (auto: bf16 on CUDA); features fp32")
    ap.add_argument("--folder-n", type=int, default=None,
                    help="samples for the PNG-folder baseline (default --n; ratio compares per-image time)")
    args = ap.parse_args()
    folder_n = args.folder_n or args.n

    device = torch.device("cuda" if gpu else "cpu")
    G, gname = build_bench_generator(args.generator)
    G.to(device)
    data = load_bench_data(args.data, args.n, int(G.resolution))
    extractor = build_extractor(args.extractor, device, args.inception_weights)
    ref = reference_stats(data, extractor, device=device, batch_size=args.batch_size)

    def in_memory() -> float:
        batches = iter_uint8(G, args.n, args.seed, args.batch_size, device, args.precision)
        feats = extract_features(extractor, batches, device)
        return frechet_distance(feature_stats(feats.features), ref.stats)

    import torch_fidelity

    tf_name = "ganctl-randconv"
    if args.extractor == RANDCONV and tf_name not in torch_fidelity.registry.FEATURE_EXTRACTORS_REGISTRY:
        torch_fidelity.register_feature_extractor(tf_name, RandConvFeatures)
    tf_kwargs = dict(
        input2=_Uint8Dataset(data.images),
        input2_cache_name=f"ganctl-bench-{data.fingerprint}-{args.extractor}",
        fid=True,
        cuda=gpu,
        batch_size=args.batch_size,
        verbose=False,
        cache=True,
        cache_root=tempfile.mkdtemp(prefix="tf-cache-"),
        samples_shuffle=False,
        feature_extractor=tf_name if args.extractor == RANDCONV else args.extractor,
        feature_extractor_weights_path=args.inception_weights if args.extractor == INCEPTION else None,
    )

    def via_folder() -> float:
        with tempfile.TemporaryDirectory(prefix="fid-pngs-") as tmp:
            images = generate_uint8(G, folder_n, args.seed, args.batch_size, device, args.precision)
            for i, img in enumerate(images):
                Image.fromarray(img.permute(1, 2, 0).numpy()).save(Path(tmp) / f"{i:06d}.png")
            out = torch_fidelity.calculate_metrics(input1=tmp, **tf_kwargs)
            return float(out["frechet_inception_distance"])

    fids: dict[str, float] = {}
    secs = interleaved({"memory": lambda: fids.__setitem__("memory", in_memory()),
                        "folder": lambda: fids.__setitem__("folder", via_folder())},
                       device, warmup=1, repeats=args.repeats)
    t_mem, t_dir, fid_mem, fid_dir = secs["memory"], secs["folder"], fids["memory"], fids["folder"]
    per_image_ratio = (t_dir / folder_n) / (t_mem / args.n)
    row = {
        "bench": "fid_speed",
        "device": torch.cuda.get_device_name() if gpu else "cpu",
        "generator": gname,
        "n": args.n,
        "extractor": args.extractor,
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "memory_s": round(t_mem, 3),
        "folder_s": round(t_dir, 3),
        "folder_n": folder_n,
        "precision": args.precision,
        "ratio_folder_over_memory": round(per_image_ratio, 2),
        "fid_memory": fid_mem,
        "fid_folder": fid_dir,
    }
    print(f"{'path':<28}{'median s':>10}{'FID':>14}")
    print(f"{'in memory (ganctl)':<28}{t_mem:>10.2f}{fid_mem:>14.4f}")
    print(f"{'PNG folder (torch-fidelity)':<28}{t_dir:>10.2f}{fid_dir:>14.4f}")
    where = f"{args.n} samples, {args.extractor}, batch {args.batch_size}, {row['device']}"
    print(f"speed-up per image {per_image_ratio:.2f}x ({where}; folder baseline on {folder_n} samples)")
    print(json.dumps(row))


if __name__ == "__main__":
    main()
