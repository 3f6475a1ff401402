"""Tiny BN-free stand-in G/D for train tests (exact DDP comparisons need no batch statistics)."""
from __future__ import annotations

import torch
from torch import nn

from ganctl.nn.activations import PMish


class StandInG(nn.Module):
    def __init__(self, latent_dim: int = 8, resolution: int = 8):
        super().__init__()
        self.latent_dim, self.resolution = latent_dim, resolution
        self.spec = {"kind": "standin", "latent_dim": latent_dim, "resolution": resolution}
        self.fc = nn.Linear(latent_dim, 4 * 4 * 4)
        self.act = PMish()
        self.conv = nn.Conv2d(4, 3, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.act(self.fc(z)).view(-1, 4, 4, 4)
        h = nn.functional.interpolate(h, scale_factor=self.resolution // 4)
        return torch.tanh(self.conv(h))


class StandInD(nn.Module):
    def __init__(self, resolution: int = 8, out_dim: int = 4):
        super().__init__()
        self.resolution = resolution
        self.spec = {"kind": "standin", "resolution": resolution, "out_dim": out_dim}
        self.conv = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.fc = nn.Linear(4 * (resolution // 2) ** 2, out_dim, bias=False)  # MMD is shift-invariant

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).flatten(1))


def build_standins(cfg) -> tuple[nn.Module, nn.Module]:  # noqa: ANN001 - mirrors loop.build_models
    torch.manual_seed(cfg.seed)
    return StandInG(cfg.latent_dim, cfg.resolution), StandInD(cfg.resolution, cfg.d_out_dim)
