"""Tiny stand-ins for the evaluate/sample tests: a generator, a feature extractor with logits, fake data."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import torch
from torch import nn

from ganctl.evaluate.extractors import Extractor, register_extractor, state_dict_sha256

STANDIN = "standin-test"


class TinyGenerator(nn.Module):
    """latent 8 -> 3×8×8 in [-1, 1]; has BatchNorm and a transposed conv like the real generators."""

    def __init__(self, seed: int = 0, latent_dim: int = 8):
        super().__init__()
        torch.manual_seed(seed)
        self.latent_dim = latent_dim
        self.resolution = 8
        self.fc = nn.Linear(latent_dim, 8 * 4 * 4)
        self.up = nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.out = nn.Conv2d(4, 3, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).view(-1, 8, 4, 4)
        h = torch.relu(self.bn(self.up(h)))
        return torch.tanh(2.0 * self.out(h))


class StandinNet(nn.Module):
    """Fixed random conv net: uint8 images -> 16-d features and 10 logits. Records TF32 flags per call."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(123)
        self.conv = nn.Conv2d(3, 16, 3, stride=2, padding=1)
        self.head = nn.Linear(16, 10)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)
        self.calls = 0
        self.images_seen = 0
        self.tf32_flags: list[tuple[bool, bool]] = []

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        assert x.dtype == torch.uint8
        self.calls += 1
        self.images_seen += x.shape[0]
        self.tf32_flags.append((torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32))
        f = torch.tanh(self.conv(x.float() / 127.5 - 1.0)).mean(dim=(2, 3))
        return f, self.head(f)


@dataclass
class StandinRegistry:
    """Every module the factory built, so tests can count calls on the reference side."""

    built: list[StandinNet] = field(default_factory=list)
    logits_status: str = "ok"

    def factory(self, device: torch.device, weights: str | None = None) -> Extractor:
        net = StandinNet().to(device)
        self.built.append(net)
        return Extractor(name=STANDIN, module=net, feature_dim=16, weights_sha256=state_dict_sha256(net),
                         logits_status=self.logits_status, resolution_handling="native", is_proxy=True)

    @property
    def images_seen(self) -> int:
        return sum(n.images_seen for n in self.built)


def install_standin(logits_status: str = "ok") -> StandinRegistry:
    reg = StandinRegistry(logits_status=logits_status)
    register_extractor(STANDIN, reg.factory)
    return reg


@dataclass
class FakeData:
    images: torch.Tensor
    name: str = "toy"
    fingerprint: str = ""

    def __post_init__(self):
        if not self.fingerprint:
            self.fingerprint = hashlib.sha256(self.images.numpy().tobytes()).hexdigest()[:16]


def fake_data(n: int = 120, seed: int = 0, res: int = 8) -> FakeData:
    """Smooth-ish random images (low-res noise upsampled) so features have structure."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 3, res // 2, res // 2, generator=g)
    imgs = torch.nn.functional.interpolate(low, size=(res, res), mode="bilinear", align_corners=False)
    return FakeData(images=(imgs * 255).round().clamp(0, 255).to(torch.uint8))
