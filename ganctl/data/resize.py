"""Resize to a square resolution the way GAN datasets are usually prepared.

Shorter side scaled to the target, then a centre crop; downscaling uses an antialiased
filter so small images do not alias (the torch and PIL paths both low-pass first).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from PIL import Image

CHUNK = 512  # images per interpolate call, bounds float memory on big sets


def center_crop(images: torch.Tensor, size: int) -> torch.Tensor:
    """Central size×size window of N×C×H×W images (H, W ≥ size)."""
    height, width = images.shape[-2:]
    top, left = (height - size) // 2, (width - size) // 2
    return images[..., top:top + size, left:left + size]


def scaled_size(height: int, width: int, resolution: int) -> tuple[int, int]:
    """(H, W) after scaling the shorter side to `resolution`, never below it."""
    scale = resolution / min(height, width)
    return max(resolution, round(height * scale)), max(resolution, round(width * scale))


def resize_uint8(images: torch.Tensor, resolution: int) -> torch.Tensor:
    """N×3×H×W uint8 → N×3×R×R uint8 (shorter side to R, centre crop); no-op when already R×R."""
    height, width = int(images.shape[-2]), int(images.shape[-1])
    if height == resolution and width == resolution:
        return images.contiguous()
    new_h, new_w = scaled_size(height, width, resolution)
    out = torch.empty(images.shape[0], images.shape[1], resolution, resolution, dtype=torch.uint8)
    for start in range(0, images.shape[0], CHUNK):
        chunk = images[start:start + CHUNK].float()
        if (new_h, new_w) != (height, width):
            chunk = F.interpolate(chunk, size=(new_h, new_w), mode="bicubic", align_corners=False,
                                  antialias=True)
        out[start:start + CHUNK] = center_crop(chunk, resolution).round().clamp(0, 255).to(torch.uint8)
    return out


def resize_pil(image: Image.Image, resolution: int) -> torch.Tensor:
    """One PIL image → 3×R×R uint8 tensor (RGB, shorter side to R with Lanczos, centre crop)."""
    image = image.convert("RGB")
    new_h, new_w = scaled_size(image.height, image.width, resolution)
    if (new_h, new_w) != (image.height, image.width):
        image = image.resize((new_w, new_h), Image.LANCZOS)
    left, top = (new_w - resolution) // 2, (new_h - resolution) // 2
    image = image.crop((left, top, left + resolution, top + resolution))
    array = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
    return array.view(resolution, resolution, 3).permute(2, 0, 1).contiguous()
