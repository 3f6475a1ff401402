"""The GPU fast path for search, as in train: bf16 autocast (losses stay fp32), channels_last, compile.

On the CPU everything is a no-op, so CPU runs are plain fp32 eager and bit-reproducible.
`torch.compile` is opt-in: the supernets set per-edge mixing weights as module attributes before each
forward, which compiles (as graph inputs) but recompiles on the first Gumbel/softmax switch.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ganctl.runtime import precision_autocast, resolve_precision


@dataclass
class FastPath:
    device: torch.device
    bf16: bool = False
    channels_last: bool = False
    compile: bool = False

    @classmethod
    def choose(cls, device: torch.device, precision: str = "auto", channels_last: bool = True,
               compile: bool = False) -> FastPath:
        cuda = device.type == "cuda"
        bf16 = resolve_precision(precision, device) == "bf16"  # an explicit bf16 still runs fp32 off CUDA
        return cls(device, bf16=bf16 and cuda, channels_last=channels_last and cuda, compile=compile and cuda)

    def describe(self) -> str:
        parts = ["bf16" if self.bf16 else "fp32"] + (["channels_last"] if self.channels_last else [])
        return "+".join(parts + (["compile"] if self.compile else []))

    def prepare(self, *modules: nn.Module) -> None:
        if self.channels_last:
            for m in modules:
                m.to(memory_format=torch.channels_last)

    def images(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def autocast(self) -> contextlib.AbstractContextManager:
        return precision_autocast(self.device, "bf16" if self.bf16 else "fp32")

    def compiled(self, module: nn.Module) -> Callable[..., Any]:
        return torch.compile(module, dynamic=False) if self.compile else module
