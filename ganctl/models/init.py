"""Seedable weight initialisation (methods §10: xavier-uniform convs, BN weight N(1, 0.02))."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from ganctl.nn.spectral import spectral_parametrization


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run a block under a private CPU RNG seeded with ``seed``; the global RNG is left untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield


def _raw_weight(m: nn.Module) -> torch.Tensor:
    param = spectral_parametrization(m)
    return m.parametrizations.weight.original if param is not None else m.weight


@torch.no_grad()
def init_weights(module: nn.Module) -> None:
    """xavier-uniform for Conv2d/ConvTranspose2d kernels; BN weight ~ N(1, 0.02), bias 0.

    Linear layers and conv biases keep torch's defaults (as the reference code did). Spectral-norm
    vectors are re-warmed after the kernel changes.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            w = _raw_weight(m)
            nn.init.xavier_uniform_(w, 1.0)
            param = spectral_parametrization(m)
            if param is not None:
                param.power_iteration(w, 15)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            param = spectral_parametrization(m)
            if param is not None:
                param.power_iteration(_raw_weight(m), 15)
