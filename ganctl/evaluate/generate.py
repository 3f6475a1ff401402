"""In-memory uint8 generation: the same images for a seed whatever the batch size or device.

All noise for a call is drawn up front from a seeded CPU generator, so batch size only changes
how the work is chunked, never which latent an image gets.

On CUDA the generator runs on a side stream, so generating batch i+1 (bf16, channels_last) overlaps
the consumer's work on batch i (e.g. fp32 Inception features on the main stream), and nothing here
waits for the device: the noise is uploaded once, images are copied back without a per-batch sync.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from ganctl.errors import UsageError

# Precision lives in the runtime (one tuple, one resolver); re-exported here for evaluate's callers.
from ganctl.runtime import AUTO, PRECISIONS, check_precision, precision_autocast, resolve_precision  # noqa: F401


@dataclass(frozen=True)
class Generation:
    """How images are generated, never which: for a seed the pixels are the same for any of these
    (precision aside). channels_last None: on with CUDA."""

    device: torch.device | str = "cpu"
    batch_size: int = 256
    precision: str = PRECISIONS[0]  # fp32 unless asked
    channels_last: bool | None = None
    compile: bool = False  # torch.compile the generator (pays off for many images)


def make_noise(n: int, latent_dim: int, seed: int) -> torch.Tensor:
    """n×latent_dim standard normal noise from a CPU generator seeded with `seed`."""
    if n <= 0:
        raise UsageError(f"number of samples must be positive, got {n}")
    return torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(int(seed)))


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats -> uint8 [0, 255], rounded to nearest and clamped (done in fp32)."""
    return ((images.float() + 1.0) * 127.5).round_().clamp_(0, 255).to(torch.uint8)


@contextlib.contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """Run in eval mode (fixed BatchNorm statistics, so a sample never depends on its batch), then restore."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


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
    side = torch.cuda.Stream(device) if device.type == "cuda" else None
    noise = noise.to(device)  # one upload for the whole call
    with eval_mode(G):
        for start in range(0, noise.shape[0], batch_size):
            with torch.cuda.stream(side) if side is not None else contextlib.nullcontext():
                if side is not None:
                    side.wait_stream(torch.cuda.current_stream(device))  # G's weights/noise are ready
                with precision_autocast(device, precision):
                    out = to_uint8(fn(noise[start : start + batch_size]))
            if side is not None:  # the consumer's stream waits on the device, not the host
                main = torch.cuda.current_stream(device)
                main.wait_stream(side)
                out.record_stream(main)
            yield out


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
    channels_last: bool | None = None,
    compile: bool = False,
) -> Iterator[torch.Tensor]:
    """Stream n generated uint8 images (on `device`) in batches; deterministic per seed.

    precision "auto" and channels_last None pick the fast path on CUDA (bf16, NHWC) and plain fp32 on the CPU."""
    device = torch.device(device)
    precision = resolve_precision(precision, device)
    if channels_last is None:
        channels_last = device.type == "cuda"
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
    channels_last: bool | None = None,
    compile: bool = False,
) -> torch.Tensor:
    """n generated images as one uint8 N×3×H×W tensor on the CPU; same pixels for a seed at any batch size.

    Batches are copied into one (pinned) CPU tensor without waiting; the host syncs once, at the end."""
    device = torch.device(device)
    out: torch.Tensor | None = None
    start = 0
    for b in iter_uint8(G, n, seed, batch_size, device, precision, channels_last, compile):
        if out is None:
            out = torch.empty((n, *b.shape[1:]), dtype=torch.uint8, pin_memory=device.type == "cuda")
        out[start : start + b.shape[0]].copy_(b, non_blocking=True)
        start += b.shape[0]
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    assert out is not None  # n > 0 is checked by make_noise
    return out
