"""Cost figures: parameters, FLOPs/MACs (torch's own counter), latency and throughput.

torch.utils.flop_counter counts transposed convolutions correctly (common third-party counters
do not), and reports FLOPs = 2 × multiply-accumulates; both are given, labelled.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ganctl.errors import UsageError
from ganctl.evaluate.generate import check_precision, eval_mode, fast_path, precision_autocast


def count_params(G: nn.Module) -> dict[str, int]:
    """All parameter entries (each tensor once) and, for sparse models, those that are non-zero."""
    seen: set[int] = set()
    total = nonzero = 0
    for p in G.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
        nonzero += int(torch.count_nonzero(p.detach()))
    return {"params": total, "nonzero_params": nonzero}


@torch.no_grad()
def count_flops(G: nn.Module, batch_size: int = 1, device: torch.device | str = "cpu") -> dict[str, Any]:
    """FLOPs of one forward pass per image (dense count; zeros in sparse weights still counted)."""
    device = torch.device(device)
    z = torch.zeros(batch_size, int(G.latent_dim), device=device)
    with fast_path(G, device, False, False), eval_mode(G):
        counter = FlopCounterMode(display=False)
        with counter:
            G(z)
    flops = int(counter.get_total_flops()) // batch_size
    return {
        "flops_per_image": flops,
        "macs_per_image": flops // 2,
        "flops_note": "FLOPs = 2 x MACs, torch.utils.flop_counter, forward of one image",
    }


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def _time_forward(
    G: nn.Module,
    batch_size: int,
    device: torch.device,
    precision: str,
    warmup: int,
    repeats: int,
    channels_last: bool = False,
    compile: bool = False,
) -> list[float]:
    if repeats <= 0 or warmup < 0:
        raise UsageError(f"repeats must be positive and warm-up non-negative, got {repeats}, {warmup}")
    check_precision(precision)
    z = torch.randn(batch_size, int(G.latent_dim), generator=torch.Generator().manual_seed(0)).to(device)
    times: list[float] = []
    with (
        fast_path(G, device, channels_last, compile) as fn,
        eval_mode(G),
        precision_autocast(device, precision),
    ):
        for i in range(warmup + repeats):
            _sync(device)
            start = time.perf_counter()
            fn(z)
            _sync(device)
            if i >= warmup:
                times.append(time.perf_counter() - start)
    return times


def measure_latency(
    G: nn.Module,
    device: torch.device | str = "cpu",
    precision: str = "fp32",
    warmup: int = 5,
    repeats: int = 20,
) -> float:
    """Median seconds for one image (batch 1), after warm-up, synchronised on CUDA."""
    return statistics.median(_time_forward(G, 1, torch.device(device), precision, warmup, repeats))


def measure_throughput(
    G: nn.Module,
    batch_size: int = 256,
    device: torch.device | str = "cpu",
    precision: str = "fp32",
    warmup: int = 3,
    repeats: int = 10,
    channels_last: bool = False,
    compile: bool = False,
) -> float:
    """Images per second at `batch_size` (median batch time), after warm-up, synchronised."""
    if batch_size <= 0:
        raise UsageError(f"batch size must be positive, got {batch_size}")
    median = statistics.median(
        _time_forward(G, batch_size, torch.device(device), precision, warmup, repeats, channels_last, compile)
    )
    return batch_size / median


def cost_report(
    G: nn.Module,
    device: torch.device | str = "cpu",
    precision: str = "fp32",
    batch_size: int = 256,
    latency_repeats: int = 20,
    throughput_repeats: int = 10,
) -> dict[str, Any]:
    """Every cost figure for an artifact, with the conditions it was measured under."""
    device = torch.device(device)
    return {
        **count_params(G),
        **count_flops(G, 1, device),
        "latency_ms_batch1": 1000.0 * measure_latency(G, device, precision, repeats=latency_repeats),
        "throughput_img_per_s": measure_throughput(
            G, batch_size, device, precision, repeats=throughput_repeats
        ),
        "throughput_batch_size": batch_size,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "precision": precision,
        "timing": "median of repeats after warm-up, synchronised",
    }
