"""Sampling core: grids, numbered PNGs, an .npz of uint8 images, and latent interpolations.

All outputs are deterministic per seed (noise from generate.make_noise) and written atomically.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image, PngImagePlugin
from torch import nn
from torchvision.utils import make_grid

from ganctl.errors import UsageError
from ganctl.evaluate.generate import (
    Generation,
    check_precision,
    fast_path,
    generate_from_noise,
    generate_uint8,
    iter_uint8,
    make_noise,
)
from ganctl.io.atomic import atomic_target, atomic_write_bytes
from ganctl.io.outputs import TAG, check_output_file, tag_npz

MAX_GRID_SCALE = 16  # a 16 px image at most 256 px wide in a grid


def check_grid_scale(scale: int, name: str = "grid scale") -> None:
    if not 1 <= scale <= MAX_GRID_SCALE:
        raise UsageError(f"{name} must be in 1..{MAX_GRID_SCALE}, got {scale}")


def _png_bytes(image_chw: torch.Tensor) -> bytes:
    buf = io.BytesIO()
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", TAG)  # lets `sample` replace its own files but never a user's
    Image.fromarray(image_chw.permute(1, 2, 0).contiguous().numpy()).save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def grid_image(images: torch.Tensor, nrow: int | None = None, padding: int = 2, scale: int = 1) -> torch.Tensor:
    """uint8 3×H×W grid of uint8 N×3×h×w images, `nrow` images per row (default: about square).

    `scale` > 1 enlarges every image by whole pixels (nearest neighbour) so a 16 px set stays legible
    without inventing detail: each source pixel becomes a scale×scale block of the same value."""
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise UsageError(f"grid needs uint8 N×3×H×W images, got {images.dtype} {tuple(images.shape)}")
    per_row = nrow or math.ceil(math.sqrt(images.shape[0]))
    if per_row <= 0:
        raise UsageError(f"images per grid row must be positive, got {per_row}")
    check_grid_scale(scale)
    images = images.cpu()
    if scale > 1:
        images = images.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)
    return make_grid(images, nrow=per_row, padding=padding, pad_value=0)


def save_grid(images: torch.Tensor, path: str | Path, nrow: int | None = None, padding: int = 2,
              scale: int = 1) -> Path:
    """Write a PNG grid atomically; returns the path."""
    atomic_write_bytes(path, _png_bytes(grid_image(images, nrow, padding, scale)))
    return Path(path)


def _check_num(num: int) -> None:
    if num <= 0:
        raise UsageError(f"number of samples must be positive, got {num}")


def sample_grid(
    G: nn.Module,
    num: int,
    seed: int,
    path: str | Path,
    nrow: int | None = None,
    device: torch.device | str = "cpu",
    batch_size: int = 256,
    precision: str = "fp32",
) -> Path:
    """`num` samples for `seed` as one PNG grid at `path`."""
    _check_num(num)
    return save_grid(generate_uint8(G, num, seed, batch_size, device, precision), path, nrow)


def sample_to_dir(
    G: nn.Module,
    num: int,
    seed: int,
    out_dir: str | Path,
    gen: Generation | None = None,
    *,
    start_index: int = 0,
    overwrite: bool = False,
) -> list[Path]:
    """Numbered PNGs 000000.png, 000001.png, ... in `out_dir`, streamed batch by batch.

    Every name is checked before the first image is generated: a PNG there that ganctl did
    not write is refused (exit 6) unless `overwrite`.
    """
    gen = gen or Generation()
    _check_num(num)
    check_precision(gen.precision)
    out = Path(out_dir)
    digits = max(6, len(str(start_index + num - 1)))
    if out.is_dir():
        for i in range(start_index, start_index + num):
            check_output_file(out / f"{i:0{digits}d}.png", overwrite, "--out-dir")
    paths: list[Path] = []
    for batch in iter_uint8(G, num, seed, gen.batch_size, gen.device, gen.precision, gen.channels_last, gen.compile):
        for image in batch.cpu():
            path = out / f"{start_index + len(paths):0{digits}d}.png"
            atomic_write_bytes(path, _png_bytes(image))
            paths.append(path)
    return paths


def sample_to_npz(G: nn.Module, num: int, seed: int, path: str | Path, gen: Generation | None = None) -> Path:
    """An .npz with key `x`: uint8 N×H×W×3 (the layout of the TF FID/IS tooling)."""
    gen = gen or Generation()
    _check_num(num)
    return write_npz(generate_uint8(G, num, seed, gen.batch_size, gen.device, gen.precision, gen.channels_last,
                                    gen.compile), path)


def write_npz(images: torch.Tensor, path: str | Path) -> Path:
    """uint8 N×3×H×W images as an .npz with key `x` (N×H×W×3), written atomically and tagged as ganctl's."""
    array = images.cpu().permute(0, 2, 3, 1).contiguous().numpy()
    with atomic_target(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, x=array)
        tag_npz(tmp)
    return Path(path)


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between rows of a and b at fractions t (K,) -> (rows, K, D).

    Falls back to linear interpolation where a and b are (anti)parallel and the angle is degenerate.
    """
    a64, b64, t64 = a.double(), b.double(), t.double()
    cos = (a64 / a64.norm(dim=1, keepdim=True) * (b64 / b64.norm(dim=1, keepdim=True))).sum(1).clamp(-1, 1)
    omega = torch.acos(cos)[:, None, None]
    sin = torch.sin(omega)
    tt = t64[None, :, None]
    lin = (1 - tt) * a64[:, None, :] + tt * b64[:, None, :]
    sph = (torch.sin((1 - tt) * omega) * a64[:, None, :] + torch.sin(tt * omega) * b64[:, None, :]) / sin
    return torch.where(sin.abs() > 1e-6, sph, lin).to(a.dtype)


@torch.no_grad()
def interpolate(G: nn.Module, k: int, seed: int, num_pairs: int = 1, gen: Generation | None = None) -> torch.Tensor:
    """uint8 (num_pairs*k)×3×H×W: k slerp steps (ends included) between each seeded noise pair, row by row."""
    gen = gen or Generation()
    if k < 2:
        raise UsageError(f"interpolation needs at least 2 steps, got {k}")
    _check_num(num_pairs)
    noise = make_noise(2 * num_pairs, int(G.latent_dim), seed)
    path = slerp(noise[0::2], noise[1::2], torch.linspace(0, 1, k)).reshape(num_pairs * k, -1)
    device = torch.device(gen.device)
    channels_last = device.type == "cuda" if gen.channels_last is None else gen.channels_last
    with fast_path(G, device, channels_last=channels_last, compile=gen.compile) as fn:
        return torch.cat([b.cpu() for b in generate_from_noise(G, path, gen.batch_size, device, gen.precision,
                                                               forward=fn)])
