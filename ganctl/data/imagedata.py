"""ImageData: a decoded dataset held as one uint8 tensor, plus the content fingerprint.

Every loader ends here so that training, evaluation and caches see one shape of data:
N×3×H×W uint8 on the CPU, contiguous. The fingerprint is the cache key evaluate uses
for reference statistics, so it covers the pixels themselves, not a path or a name alone.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch

FINGERPRINT_VERSION = "ganctl.data.v1"


@dataclass
class ImageData:
    """A whole dataset in memory: `images` is uint8 N×3×R×R on the CPU."""

    images: torch.Tensor
    name: str
    resolution: int
    fingerprint: str
    source: str
    skipped: int = 0  # undecodable files left out (folders only)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def nbytes(self) -> int:
        return self.images.numel() * self.images.element_size()


def content_fingerprint(images: torch.Tensor, kind: str, resolution: int) -> str:
    """Short sha256 over the pixels, their shape, the resolution and the dataset kind."""
    images = images.contiguous()
    digest = hashlib.sha256()
    digest.update(f"{FINGERPRINT_VERSION}|{kind}|{resolution}|{tuple(images.shape)}|".encode())
    digest.update(memoryview(images.numpy()).cast("B"))
    return digest.hexdigest()[:16]


def make_image_data(images: torch.Tensor, name: str, kind: str, source: str, skipped: int = 0,
                    fingerprint: str | None = None) -> ImageData:
    """Check the layout every consumer relies on and attach the fingerprint."""
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected uint8 N×3×H×W images, got {images.dtype} {tuple(images.shape)}")
    if images.shape[2] != images.shape[3]:
        raise ValueError(f"expected square images, got {tuple(images.shape)}")
    images = images.contiguous()
    resolution = int(images.shape[2])
    fingerprint = fingerprint or content_fingerprint(images, kind, resolution)
    return ImageData(images=images, name=name, resolution=resolution, fingerprint=fingerprint,
                     source=source, skipped=skipped)


def random_subset(images: torch.Tensor, max_images: int | None, seed: int) -> torch.Tensor:
    """A seeded subset (kept in the original order) so `max_images` stays representative."""
    n = int(images.shape[0])
    if max_images is None or max_images >= n:
        return images
    generator = torch.Generator().manual_seed(seed)
    keep = torch.randperm(n, generator=generator)[:max_images].sort().values
    return images.index_select(0, keep).contiguous()
