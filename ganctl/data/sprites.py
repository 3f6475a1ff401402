"""`sprites`: a built-in dataset simple enough that a tiny GAN learns it in minutes on a CPU.

One large, flat-coloured shape (circle, square or triangle) per image, on a plain light
background. Few factors of variation (kind, one of six colours, size, position, a little
rotation), so a ~100k-parameter generator trained for a few thousand images already draws
recognisable objects; `shapes` (textured backgrounds, up to three shapes) stays the harder set.
Deterministic by seed at any resolution, drawn per block like `shapes` (the first k images do
not depend on how many are asked for), and rendered from the same signed distances.
"""
from __future__ import annotations

import torch

from ganctl.data.shapes import BLOCK, _block_seed, _intra_op_threads, _shape_distance

SPRITE_KINDS = ("circle", "square", "triangle")
# saturated colours that stand out from the light background (RGB in [0, 1])
PALETTE = torch.tensor(
    [[0.85, 0.15, 0.15], [0.15, 0.6, 0.2], [0.15, 0.3, 0.85], [0.95, 0.75, 0.1], [0.6, 0.2, 0.7], [0.1, 0.6, 0.7]]
)
DEFAULT_COUNT = 10_000


def _draw(generator: torch.Generator, count: int) -> dict[str, torch.Tensor]:
    """Every resolution-independent random choice for `count` images."""
    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator)

    return {
        "kind": torch.randint(0, len(SPRITE_KINDS), (count,), generator=generator),
        "colour": torch.randint(0, len(PALETTE), (count,), generator=generator),
        "tint": (rand(count, 3) - 0.5) * 0.1,
        "background": 0.88 + 0.08 * rand(count, 1),
        "centre": 0.38 + 0.24 * rand(count, 2),
        "size": 0.28 + 0.08 * rand(count),
        "rotation": (rand(count) - 0.5) * 0.5,  # ±0.25 rad: triangles stay upright-ish
    }


def _render(scene: dict[str, torch.Tensor], resolution: int) -> torch.Tensor:
    """Scene parameters → float images in [0, 1], B×3×R×R (one anti-aliased shape each)."""
    count = scene["kind"].shape[0]
    coords = (torch.arange(resolution, dtype=torch.float32) + 0.5) / resolution
    y, x = coords.view(1, -1, 1), coords.view(1, 1, -1)
    alpha = torch.zeros(count, 1, resolution, resolution)
    for kind_index, kind in enumerate(SPRITE_KINDS):
        idx = (scene["kind"] == kind_index).nonzero().squeeze(1)
        if idx.numel() == 0:
            continue
        size = scene["size"][idx].view(-1, 1, 1)
        rot = scene["rotation"][idx].view(-1, 1, 1) - (torch.pi / 2 if kind == "triangle" else 0.0)
        dx = x - scene["centre"][idx, 0].view(-1, 1, 1)
        dy = y - scene["centre"][idx, 1].view(-1, 1, 1)
        u = (dx * torch.cos(rot) + dy * torch.sin(rot)) / size
        v = (-dx * torch.sin(rot) + dy * torch.cos(rot)) / size
        distance = _shape_distance(kind, u, v, torch.ones_like(size))
        alpha[idx] = (0.5 - distance * size * resolution).clamp(0, 1).unsqueeze(1)
    colour = (PALETTE[scene["colour"]] + scene["tint"]).clamp(0, 1)[:, :, None, None]
    background = scene["background"][:, :, None, None].expand(count, 3, 1, 1)
    return background * (1 - alpha) + colour * alpha


def generate_sprites(count: int = DEFAULT_COUNT, resolution: int = 32, seed: int = 0) -> torch.Tensor:
    """`count` images, uint8 N×3×R×R, identical for identical (seed, resolution)."""
    out = torch.empty(count, 3, resolution, resolution, dtype=torch.uint8)
    with _intra_op_threads(1):
        for start in range(0, count, BLOCK):
            generator = torch.Generator().manual_seed(_block_seed(seed + 7919, start // BLOCK))
            scene = _draw(generator, BLOCK)
            stop = min(count, start + BLOCK)
            part = {k: v[: stop - start] for k, v in scene.items()}
            out[start:stop] = (_render(part, resolution) * 255).round().to(torch.uint8)
    return out
