"""Multi-process training under torchrun: the batch and gradient collectives of the GAN step (the process
group itself, `World` and its set-up, lives in ganctl.runtime).

Design: the global batch is drawn identically on every rank and each rank takes its
slice, and the D outputs are all-gathered (with gradient) before the loss. The MMD loss
couples every pair in the batch, so this keeps N processes mathematically equal to one
process with the same global batch (DDP's gradient averaging and the gather's gradient
sum cancel exactly).
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from ganctl.errors import UsageError
from ganctl.runtime import World


def check_batch(batch_size: int, world: World) -> None:
    if batch_size % world.world_size:
        raise UsageError(
            f"--batch-size {batch_size} (the global batch) must divide evenly over "
            f"{world.world_size} processes"
        )


def gather(x: torch.Tensor, world: World) -> torch.Tensor:
    """All ranks' rows, in rank order, with gradient flowing back to each rank's own rows."""
    if not world.distributed:
        return x
    from torch.distributed.nn.functional import all_gather  # lazy: autograd collectives, multi-process runs only

    return torch.cat(all_gather(x), dim=0)


def broadcast_float(value: float, world: World, device: torch.device) -> float:
    """Rank 0's number on every rank (the proxy metric drives the bound schedule everywhere)."""
    if not world.distributed:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.broadcast(t, src=0)
    return float(t.item())
