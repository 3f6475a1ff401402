"""Runtime concerns in one place: device selection, seed derivation (one --seed, many independent,
reproducible streams), precision/autocast and the torchrun process group (`World`)."""
from __future__ import annotations

import contextlib
import hashlib
import os
import random
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from ganctl.errors import UsageError
from ganctl.recipe import AUTO, PRECISIONS


def resolve_device(spec: str = "auto") -> torch.device:
    """'auto' picks the GPU when there is one; an explicit cuda request without CUDA is an error."""
    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UsageError(f"--device {spec}: CUDA is not available on this machine (use --device cpu or auto)")
        try:
            dev = torch.device(spec)
        except RuntimeError as e:
            raise UsageError(f"--device {spec}: not a valid device ({e})") from e
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UsageError(f"--device {spec}: only {torch.cuda.device_count()} CUDA device(s) present")
        return dev
    raise UsageError(f"--device {spec!r}: expected auto, cpu, cuda or cuda:N")


def derive_seed(seed: int, purpose: str, rank: int = 0) -> int:
    """A stable 63-bit seed for one purpose (data order, noise, eval) and rank, independent of the others."""
    digest = hashlib.sha256(f"{seed}/{purpose}/{rank}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (1 << 32))
    torch.manual_seed(seed)


def rng_state() -> dict:
    """Every global RNG state as tensors/plain types (checkpoint-safe with weights_only=True)."""
    py = random.getstate()
    np_state = np.random.get_state()
    state = {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), int(np_state[2]), int(np_state[3]),
                  float(np_state[4])],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state((n[0], n[1].numpy().astype(np.uint32), n[2], n[3], n[4]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# Precision: one resolver of "auto" (the tuple lives in recipe.py), shared by train, search, compress and evaluate.


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise UsageError(f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    return precision


def resolve_precision(precision: str, device: torch.device | str) -> str:
    """'auto' = bf16 on CUDA (tensor cores), fp32 elsewhere; other values are checked and kept."""
    if precision == AUTO:
        return "bf16" if torch.device(device).type == "cuda" else "fp32"
    return check_precision(precision)


def precision_autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """bf16 autocast for "bf16", a no-op context for "fp32" (the step, search and evaluate all use this one)."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


# Progress of work buried deep in a stage (data decoding inside train/search/compress): the core reports
# to whatever callback the caller installed, and stays silent when none is (library use, tests).
ProgressFn = Callable[[str, int, int], None]
_PROGRESS: ContextVar[ProgressFn | None] = ContextVar("ganctl_progress", default=None)


@contextlib.contextmanager
def progress_reporter(fn: ProgressFn | None) -> Iterator[None]:
    """Route `report_progress` calls made inside this block to `fn(stage, done, total)`."""
    token = _PROGRESS.set(fn)
    try:
        yield
    finally:
        _PROGRESS.reset(token)


def report_progress(stage: str, done: int, total: int) -> None:
    """Tell the installed reporter (if any) that `done` of `total` units of `stage` are finished."""
    fn = _PROGRESS.get()
    if fn is not None:
        fn(stage, done, total)


# The torchrun process group: one process per GPU, ranks from the environment.
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


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()


def shutdown(world: World) -> None:
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()
