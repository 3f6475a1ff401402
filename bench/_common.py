"""Shared bench helpers: timing (warm-up, synchronise, median), generators and data to measure with."""

from __future__ import annotations

import contextlib
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_time(
    fn: Callable[[], object], device: torch.device, warmup: int, repeats: int
) -> tuple[float, object]:
    """Median wall seconds of fn() over `repeats` runs after `warmup` runs; also the last result."""
    result = None
    for _ in range(warmup):
        result = fn()
    sync(device)
    times = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        result = fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def interleaved(
    fns: dict[str, Callable[[], object]], device: torch.device, warmup: int, repeats: int
) -> dict[str, float]:
    """Median wall seconds per variant, timed A, B, A, B, … so load drift and clock changes hit every
    variant alike (timing one variant after another confounds them with the variant)."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    sync(device)
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            sync(device)
            start = time.perf_counter()
            fn()
            sync(device)
            times[name].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


@contextlib.contextmanager
def tf32(enabled: bool) -> Iterator[None]:
    """TF32 matmuls/convs on or off inside the block (an fp32 baseline must say which it is: off)."""
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


class SmallGenerator(nn.Module):
    """Stand-in for CPU runs when ganctl.models is unavailable: DCGAN-like, 32 px."""

    def __init__(self, latent_dim: int = 128, width: int = 64):
        super().__init__()
        torch.manual_seed(0)
        self.latent_dim, self.resolution = latent_dim, 32
        self.fc = nn.Linear(latent_dim, width * 4 * 4)
        blocks = []
        for _ in range(3):
            blocks += [nn.BatchNorm2d(width), nn.ReLU(), nn.ConvTranspose2d(width, width, 4, 2, 1)]
        self.body = nn.Sequential(
            *blocks, nn.BatchNorm2d(width), nn.ReLU(), nn.Conv2d(width, 3, 3, padding=1), nn.Tanh()
        )
        self.width = width

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(self.fc(z).view(-1, self.width, 4, 4))


def build_bench_generator(name: str) -> tuple[nn.Module, str]:
    """'cifar10-large' / 'cifar10-small' via ganctl.models (when present), else the small stand-in."""
    if name in ("cifar10-large", "cifar10-small"):
        try:
            from ganctl.genotype import load_genotype
            from ganctl.models import build_generator, generator_spec
        except ImportError as e:  # models not written yet in this checkout
            print(f"# ganctl.models unavailable ({e}); using the small stand-in generator", file=sys.stderr)
            return SmallGenerator(), "small-standin"
        width = 256 if name == "cifar10-large" else 128
        spec = generator_spec(load_genotype("mmd-adversarialnas-cifar10"), 32, width, 120, "pmish")
        return build_generator(spec), name
    return SmallGenerator(), "small-standin"


class RefData:
    """ImageData-like synthetic reference set (random smooth images) when no dataset is given."""

    def __init__(self, n: int, res: int = 32, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        low = torch.rand(n, 3, res // 4, res // 4, generator=g)
        imgs = torch.nn.functional.interpolate(low, size=(res, res), mode="bilinear", align_corners=False)
        self.images = (imgs * 255).round().to(torch.uint8)
        self.name = f"synthetic{n}"
        self.fingerprint = f"bench-synthetic-{n}-{res}-{seed}"
        self.resolution = res


def load_bench_data(spec: str | None, n: int, res: int):
    if not spec:
        return RefData(n, res)
    from ganctl.data import load_data

    return load_data(spec, resolution=res, download=False)
