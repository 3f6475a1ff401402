"""`folder:PATH` — every image under a folder, recursively, decoded to one uint8 tensor.

Files are sorted by relative path so the order (and the fingerprint) does not depend on
the file system. Undecodable files are skipped with one warning and counted, because one
bad JPEG in 100k should not stop a run; a folder with nothing decodable is an error.
"""
from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ganctl.data.cache import listing_key, load_cached, save_cached
from ganctl.data.resize import resize_pil
from ganctl.errors import DataError, InputFileError
from ganctl.io.safeio import check_regular
from ganctl.runtime import report_progress

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)


def list_images(folder: Path) -> list[Path]:
    """Image files under `folder` (recursive, case-insensitive extensions), sorted by relative path."""
    if not folder.exists():
        raise DataError("image folder not found", folder)
    if not folder.is_dir():
        raise DataError("not a folder (folder:PATH expects a directory of images)", folder)

    def fail(exc: OSError) -> None:
        raise DataError(f"cannot read folder ({exc.strerror or exc})", exc.filename or folder)

    found = []
    for dirpath, dirnames, filenames in os.walk(folder, onerror=fail):
        dirnames.sort()
        found.extend(Path(dirpath) / name for name in filenames if name.lower().endswith(IMAGE_EXTENSIONS))
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


MAX_IMAGE_BYTES = 256 << 20  # one image file; PIL's decompression-bomb guard bounds the pixels


def to_rgb8(image: Image.Image) -> Image.Image:
    """Any PIL mode → 8-bit RGB with the full range kept.

    PIL's own `convert("RGB")` clips 16/32-bit integer pixels to 255 (a 16-bit PNG turns white),
    so those are rescaled here: 16-bit samples by 255/65535 (the exact map of 0..65535 onto
    0..255), floats from [0, 1] (or [0, 255] when larger values occur). Palette, LA/PA (alpha
    dropped, as torchvision's loader does), CMYK, YCbCr and 1-bit images go through PIL.
    """
    mode = image.mode
    if mode.startswith("I"):  # I;16, I;16B, I;16L, I;16N, and I (16-bit PNG/TIFF greyscale)
        array = np.asarray(image).astype(np.float64)
        array = np.clip(np.rint(array * (255.0 / 65535.0)), 0, 255).astype(np.uint8)
        return Image.fromarray(array, mode="L").convert("RGB")
    if mode == "F":
        array = np.nan_to_num(np.asarray(image, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        scale = 255.0 if array.size and float(array.max()) <= 1.0 else 1.0
        array = np.clip(np.rint(array * scale), 0, 255).astype(np.uint8)
        return Image.fromarray(array, mode="L").convert("RGB")
    if mode in ("P", "PA") and "transparency" in image.info:
        image = image.convert("RGBA")
    return image if image.mode == "RGB" else image.convert("RGB")


def decode_image_file(path: Path, resolution: int) -> torch.Tensor:
    """One file → 3×R×R uint8; raises one of DECODE_ERRORS when the file is not a readable image."""
    try:
        check_regular(path, max_bytes=MAX_IMAGE_BYTES, what="image")
    except InputFileError as e:
        raise OSError(str(e)) from None  # counted as an undecodable file, like any other bad image
    with Image.open(path) as image:
        image.load()
        return resize_pil(to_rgb8(image), resolution)


def _try_decode(path: Path, resolution: int) -> torch.Tensor | Exception:
    try:
        return decode_image_file(path, resolution)
    except DECODE_ERRORS as exc:
        return exc


def decode_files(files: list[Path], resolution: int, workers: int | None = None
                 ) -> tuple[torch.Tensor, list[tuple[Path, Exception]]]:
    """Decode in a thread pool (PIL releases the GIL while decoding); returns images and failures."""
    workers = workers or min(8, os.cpu_count() or 1)
    out = torch.empty(len(files), 3, resolution, resolution, dtype=torch.uint8)
    failures: list[tuple[Path, Exception]] = []
    kept = 0
    stage = f"decode {len(files):,} images"
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = pool.map(lambda p: _try_decode(p, resolution), files)
        for done, (path, result) in enumerate(zip(files, results, strict=True), start=1):
            if isinstance(result, Exception):
                failures.append((path, result))
            else:
                out[kept] = result
                kept += 1
            if done % 512 == 0 or done == len(files):
                report_progress(stage, done, len(files))
    return out[:kept].clone() if kept < len(files) else out, failures


def load_folder(folder: Path, resolution: int) -> tuple[torch.Tensor, int, str]:
    """(images, skipped count, source text); decoded once, then read from the cache."""
    folder = folder.expanduser()
    files = list_images(folder)
    key = listing_key("folder", folder, files, resolution)
    cached = load_cached("folder", key)
    if cached is not None:
        images, meta = cached
        skipped = int(meta.get("skipped", "0"))
        if skipped:
            warnings.warn(f"{folder}: skipped {skipped} undecodable image file(s) (cached count)",
                          stacklevel=3)
        return images, skipped, f"{len(files)} image files under {folder} (decoded cache)"
    images, failures = decode_files(files, resolution)
    if failures:
        path, exc = failures[0]
        warnings.warn(f"{folder}: skipped {len(failures)} undecodable image file(s), e.g. {path}: {exc}",
                      stacklevel=3)
    if images.shape[0] == 0:
        raise DataError(f"no decodable images ({'/'.join(e[1:] for e in IMAGE_EXTENSIONS)}) in folder"
                        f" ({len(files)} candidate files, {len(failures)} undecodable)", folder)
    save_cached("folder", key, images, {"skipped": str(len(failures)), "folder": str(folder)})
    return images, len(failures), f"{images.shape[0]} image files under {folder}"
