"""Multi-process training under torchrun: process group from the environment, rank helpers.

Design: the global batch is drawn identically on every rank and each rank takes its
slice, and the D outputs are all-gathered (with gradient) before the loss. The MMD loss
couples every pair in the batch, so this keeps N processes mathematically equal to one
process with the same global batch (DDP's gradient averaging and the gather's gradient
sum cancel exactly).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ganctl.errors import UsageError


@dataclass
class World:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def slice(self, batch: torch.Tensor) -> torch.Tensor:
        """This rank's contiguous part of a global batch."""
        if not self.distributed:
            return batch
        per = batch.shape[0] // self.world_size
        return batch[self.rank * per : (self.rank + 1) * per]


def world_from_env() -> World:
    return World(
        int(os.environ.get("RANK", 0)),
        int(os.environ.get("WORLD_SIZE", 1)),
        int(os.environ.get("LOCAL_RANK", 0)),
    )


def init_distributed(device: torch.device) -> World:
    """Join the torchrun process group (nccl on CUDA, gloo on CPU); a no-op for one process."""
    world = world_from_env()
    if world.distributed and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return world


def rank_device(device: torch.device, world: World) -> torch.device:
    """Each rank drives its own GPU (LOCAL_RANK) when several processes share a machine."""
    if device.type == "cuda" and world.distributed:
        torch.cuda.set_device(world.local_rank)
        return torch.device("cuda", world.local_rank)
    return device


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


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()


def shutdown(world: World) -> None:
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()
