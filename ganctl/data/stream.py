"""BatchStream: an endless, resumable, shardable stream of augmented training batches.

Order and augmentation are pure functions of (seed, epoch, position, rank): each epoch's
permutation comes from a generator seeded by (seed, epoch), and each batch's flip mask from
one seeded by (seed, rank, epoch, position). So the resume state is two integers, the same
for every rank, and a resumed stream yields bit-identical batches to an uninterrupted one.
Images travel as uint8 (4× less traffic) and become floats in [-1, 1] on the target device.
"""
from __future__ import annotations

import hashlib

import torch

from ganctl.data.imagedata import ImageData
from ganctl.errors import DataError, UsageError

DEFAULT_GPU_BUDGET = 8 << 30  # bytes of uint8 images kept on the GPU at most
STATE_VERSION = 1


def _derived_seed(*parts: object) -> int:
    """A 63-bit seed from any tuple, so nearby seeds/epochs give unrelated streams."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def _gpu_budget(device: torch.device, budget: int | None) -> int:
    if budget is not None:
        return budget
    free, _total = torch.cuda.mem_get_info(device)
    return min(DEFAULT_GPU_BUDGET, int(free * 0.4))


class BatchStream:
    """Shuffled batches forever; `next()` → float B×3×R×R in [-1, 1] on `device`."""

    def __init__(self, data: ImageData | torch.Tensor, batch_size: int, device: str | torch.device = "cpu",
                 seed: int = 0, flip: bool = True, rank: int = 0, world_size: int = 1,
                 gpu_budget_bytes: int | None = None):
        images = data.images if isinstance(data, ImageData) else data
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise DataError(f"BatchStream expects uint8 N×C×H×W images, got {images.dtype}"
                            f" {tuple(images.shape)}")
        if batch_size < 1:
            raise UsageError(f"batch size must be at least 1, got {batch_size}")
        if not 0 <= rank < world_size:
            raise UsageError(f"rank {rank} is outside world size {world_size}")
        self.device = torch.device(device)
        self.batch_size, self.seed, self.flip = int(batch_size), int(seed), bool(flip)
        self.rank, self.world_size = int(rank), int(world_size)
        self.num_images = int(images.shape[0])
        self.per_rank = self.num_images // self.world_size  # equal shards keep DDP ranks in step
        if self.per_rank < self.batch_size:
            raise DataError(f"dataset has {self.num_images} images: fewer than one batch of {self.batch_size}"
                            f" per rank ({self.world_size} rank(s))")
        self.batches_per_epoch = self.per_rank // self.batch_size
        nbytes = images.numel() * images.element_size()
        cuda = self.device.type == "cuda"
        self.resident = cuda and nbytes <= _gpu_budget(self.device, gpu_budget_bytes)
        self._pin = cuda and not self.resident
        self._images = images.to(self.device) if self.resident else images.contiguous()
        self._epoch = 0
        self._position = 0
        self._order: torch.Tensor | None = None
        self._flips: torch.Tensor | None = None  # this epoch's flip masks, on self.device

    @property
    def epoch(self) -> int:
        """The epoch the next batch comes from."""
        return self._epoch

    @property
    def position(self) -> int:
        """Index of the next batch within its epoch."""
        return self._position

    def epoch_indices(self, epoch: int) -> torch.Tensor:
        """This rank's image indices for `epoch`, in order (every world_size-th of the permutation)."""
        generator = torch.Generator().manual_seed(_derived_seed(self.seed, "order", epoch))
        permutation = torch.randperm(self.num_images, generator=generator)
        return permutation[: self.per_rank * self.world_size][self.rank::self.world_size]

    def flip_mask(self, epoch: int, position: int) -> torch.Tensor:
        """Which images of batch (epoch, position) are mirrored (CPU bool, length batch_size)."""
        seed = _derived_seed(self.seed, "flip", self.rank, epoch, position)
        generator = torch.Generator().manual_seed(seed)
        return torch.rand(self.batch_size, generator=generator) < 0.5

    def epoch_flips(self, epoch: int) -> torch.Tensor:
        """Every batch's flip mask of `epoch` (batches_per_epoch × batch_size bool, on the data's device):
        the rows of `flip_mask`, built once per epoch so a step never makes a CPU tensor to upload."""
        masks = torch.stack([self.flip_mask(epoch, p) for p in range(self.batches_per_epoch)])
        return masks.to(self.device)

    def __iter__(self) -> BatchStream:
        return self

    def __next__(self) -> torch.Tensor:
        return self.next()

    def next(self) -> torch.Tensor:
        if self._order is None:
            order = self.epoch_indices(self._epoch)
            self._order = order.to(self.device) if self.resident else order
            self._flips = self.epoch_flips(self._epoch) if self.flip else None
        start = self._position * self.batch_size
        indices = self._order[start:start + self.batch_size]
        batch = self._images.index_select(0, indices)
        if self._pin:
            batch = batch.pin_memory().to(self.device, non_blocking=True)
        elif batch.device != self.device:
            batch = batch.to(self.device)
        if self.flip:  # mirrored while still uint8: 4× less memory traffic than on floats
            mask = self._flips[self._position]
            batch = torch.where(mask.view(-1, 1, 1, 1), batch.flip(3), batch)
        batch = batch.float() / 127.5 - 1
        self._position += 1
        if self._position == self.batches_per_epoch:
            self._epoch, self._position, self._order = self._epoch + 1, 0, None
        return batch

    def state_dict(self) -> dict[str, int]:
        """Plain ints; identical on every rank, so rank 0's checkpoint resumes all ranks."""
        return {"version": STATE_VERSION, "epoch": self._epoch, "position": self._position,
                "seed": self.seed, "num_images": self.num_images, "batch_size": self.batch_size,
                "world_size": self.world_size}

    def load_state_dict(self, state: dict) -> None:
        """Continue exactly where `state` was taken; refuses a state from a different stream."""
        for key in ("seed", "num_images", "batch_size", "world_size"):
            if key in state and int(state[key]) != getattr(self, key):
                raise DataError(f"data-stream resume state has {key}={int(state[key])}, but this run has "
                                f"{key}={getattr(self, key)}; resume with the same data and options")
        position = int(state["position"])
        if not 0 <= position < self.batches_per_epoch:
            raise DataError(f"data-stream resume position {position} is outside"
                            f" 0..{self.batches_per_epoch - 1}")
        self._epoch, self._position, self._order = int(state["epoch"]), position, None
