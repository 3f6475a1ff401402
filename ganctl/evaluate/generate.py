"""In-memory uint8 generation: the same images for a seed whatever the batch size or device.

All noise for a call is drawn up front from a seeded CPU generator, so batch size only changes
how the work is chunked, never which latent an image gets.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from ganctl.errors import UsageError

PRECISIONS = ("fp32", "bf16")


def make_noise(n: int, latent_dim: int, seed: int) -> torch.Tensor:
    """n×latent_dim standard normal noise from a CPU generator seeded with `seed`."""
    if n <= 0:
        raise UsageError(f"number of samples must be positive, got {n}")
    return torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(int(seed)))


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats -> uint8 [0, 255], rounded to nearest and clamped (done in fp32)."""
    return ((images.float() + 1.0) * 127.5).round_().clamp_(0, 255).to(torch.uint8)


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise UsageError(f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    return precision


@contextlib.contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """Run in eval mode (fixed BatchNorm statistics, so a sample never depends on its batch), then restore."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


def precision_autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _module_device(module: nn.Module) -> torch.device | None:
    for tensor in module.parameters():
        return tensor.device
    for tensor in module.buffers():
        return tensor.device
    return None


@torch.no_grad()
def generate_from_noise(
    G: nn.Module,
    noise: torch.Tensor,
    batch_size: int,
    device: torch.device | str,
    precision: str = "fp32",
    forward: nn.Module | None = None,
) -> Iterator[torch.Tensor]:
    """Yield uint8 B×3×H×W batches on `device` for the rows of `noise`, in order."""
    check_precision(precision)
    if batch_size <= 0:
        raise UsageError(f"batch size must be positive, got {batch_size}")
    device = torch.device(device)
    fn = forward if forward is not None else G
    with eval_mode(G):
        for start in range(0, noise.shape[0], batch_size):
            z = noise[start : start + batch_size].to(device, non_blocking=True)
            with precision_autocast(device, precision):
                out = fn(z)
            yield to_uint8(out)


@contextlib.contextmanager
def fast_path(G: nn.Module, device: torch.device, channels_last: bool, compile: bool) -> Iterator[nn.Module]:
    """Move G to `device` (and channels_last) for the call, optionally compiled; put G back after."""
    home = _module_device(G)
    G.to(device)
    if channels_last:
        G.to(memory_format=torch.channels_last)
    try:
        yield torch.compile(G) if compile else G
    finally:
        if channels_last:
            G.to(memory_format=torch.contiguous_format)
        if home is not None:
            G.to(home)


def iter_uint8(
    G: nn.Module,
    n: int,
    seed: int,
    batch_size: int = 250,
    device: torch.device | str = "cpu",
    precision: str = "fp32",
    channels_last: bool = False,
    compile: bool = False,
) -> Iterator[torch.Tensor]:
    """Stream n generated uint8 images (on `device`) in batches; deterministic per seed."""
    device = torch.device(device)
    noise = make_noise(n, int(G.latent_dim), seed)
    with fast_path(G, device, channels_last, compile) as fn:
        yield from generate_from_noise(G, noise, batch_size, device, precision, forward=fn)


def generate_uint8(
    G: nn.Module,
    n: int,
    seed: int,
    batch_size: int = 250,
    device: torch.device | str = "cpu",
    precision: str = "fp32",
    channels_last: bool = False,
    compile: bool = False,
) -> torch.Tensor:
    """n generated images as one uint8 N×3×H×W tensor on the CPU; same pixels for a seed at any batch size."""
    return torch.cat(
        [b.cpu() for b in iter_uint8(G, n, seed, batch_size, device, precision, channels_last, compile)]
    )
