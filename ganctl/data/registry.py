"""Dataset names, `--data` parsing and `load_data`, the single entry point of ganctl.data."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ganctl.data.folder import load_folder
from ganctl.data.imagedata import ImageData, make_image_data, random_subset
from ganctl.data.npz import load_npz
from ganctl.data.resize import resize_uint8
from ganctl.data.shapes import DEFAULT_COUNT, generate_shapes
from ganctl.data.sprites import DEFAULT_COUNT as SPRITES_COUNT
from ganctl.data.sprites import generate_sprites
from ganctl.data.torchvision_sets import load_torchvision
from ganctl.errors import UsageError

MIN_RESOLUTION, MAX_RESOLUTION = 4, 2048


@dataclass(frozen=True)
class DatasetInfo:
    """One row of the table the CLI help is generated from."""

    name: str
    default_resolution: int | None  # None: the file's own resolution
    description: str
    takes_path: bool = False


DATASETS: dict[str, DatasetInfo] = {info.name: info for info in (
    DatasetInfo("shapes", 32, f"built-in procedural shapes on textured backgrounds ({DEFAULT_COUNT} images,"
                              " any resolution, no download)"),
    DatasetInfo("sprites", 32, f"built-in: one flat-coloured circle, square or triangle on a plain background"
                               f" ({SPRITES_COUNT} images, any resolution, no download; learnable in minutes)"),
    DatasetInfo("cifar10", 32, "CIFAR-10 train split, 50k images"),
    DatasetInfo("cifar100", 32, "CIFAR-100 train split, 50k images"),
    DatasetInfo("stl10", 48, "STL-10 train+unlabeled, 105k images resized from 96 px"),
    DatasetInfo("celeba", 64, "CelebA aligned faces (all splits, 203k), centre crop 140 then resize;"
                              " 64 or 128"),
    DatasetInfo("fashion-mnist", 32, "Fashion-MNIST train split, 60k grayscale images as RGB,"
                                     " resized from 28 px"),
    DatasetInfo("folder", 32, "folder:PATH — every jpg/jpeg/png/bmp/webp under PATH (recursive), shorter side"
                              " resized + centre crop", takes_path=True),
    DatasetInfo("npz", None, "npz:PATH — one uint8 array N×H×W×3 / N×3×H×W / N×H×W (key x, images or arr_0)",
                takes_path=True),
)}
TORCHVISION_KINDS = ("cifar10", "cifar100", "stl10", "celeba", "fashion-mnist")


def dataset_names() -> list[str]:
    """Valid --data values, with the path-taking kinds written as kind:PATH."""
    return [f"{info.name}:PATH" if info.takes_path else info.name for info in DATASETS.values()]


def parse_data_arg(arg: str) -> tuple[str, str | None]:
    """"folder:PATH" → ("folder", "PATH"); "cifar10" → ("cifar10", None); an existing folder or
    .npz path given bare is taken as folder:/npz: of it."""
    text = str(arg).strip()
    kind, sep, path = text.partition(":")
    kind = kind.lower()
    if sep and kind in DATASETS:
        if not DATASETS[kind].takes_path:
            raise UsageError(f"dataset {kind!r} takes no path (got {text!r})")
        if not path:
            raise UsageError(f"{kind}:PATH needs a path after the colon (got {text!r})")
        return kind, path
    if not sep and kind in DATASETS:
        if DATASETS[kind].takes_path:
            raise UsageError(f"dataset {kind!r} needs a path: {kind}:PATH")
        return kind, None
    bare = Path(text).expanduser()
    if bare.is_dir():
        return "folder", text
    if bare.is_file() and bare.suffix.lower() in (".npz", ".npy"):
        return "npz", text
    raise UsageError(f"unknown dataset {text!r}; valid: {', '.join(dataset_names())}")


def _check_resolution(resolution: int | None) -> None:
    if resolution is not None and not (isinstance(resolution, int) and MIN_RESOLUTION <= resolution
                                       <= MAX_RESOLUTION):
        raise UsageError(f"resolution must be an integer in {MIN_RESOLUTION}..{MAX_RESOLUTION},"
                         f" got {resolution!r}")


def load_data(name: str, root: str | Path | None = None, resolution: int | None = None, download: bool = True,
              seed: int = 0, max_images: int | None = None) -> ImageData:
    """Decode a dataset into memory as uint8 N×3×R×R (see DATASETS for names).

    root: --data-root for the torchvision sets (default $GANCTL_CACHE/data or ~/.cache/ganctl/data).
    seed: drives `shapes` generation and the choice of the `max_images` subset.
    GANCTL_OFFLINE=1 turns every download off, whatever `download` says.
    """
    download = download and os.environ.get("GANCTL_OFFLINE", "") in ("", "0")
    kind, path = parse_data_arg(name)
    _check_resolution(resolution)
    if max_images is not None and max_images < 1:
        raise UsageError(f"max_images must be at least 1, got {max_images}")
    default = DATASETS[kind].default_resolution
    skipped = 0
    if kind == "shapes":
        res = resolution or default
        images = generate_shapes(max_images or DEFAULT_COUNT, res, seed)
        source = f"procedural shapes, seed {seed}, {images.shape[0]} images at {res} px"
    elif kind == "sprites":
        res = resolution or default
        images = generate_sprites(max_images or SPRITES_COUNT, res, seed)
        source = f"procedural sprites, seed {seed}, {images.shape[0]} images at {res} px"
    elif kind == "folder":
        images, skipped, source = load_folder(Path(path), resolution or default)
    elif kind == "npz":
        images = load_npz(Path(path))
        native = min(images.shape[-2:])
        images = resize_uint8(images, resolution or native)
        source = f"{images.shape[0]} images from {path}"
    else:
        images, source = load_torchvision(kind, root, resolution or default, download)
    images = random_subset(images, max_images, seed)
    display = kind if path is None else f"{kind}:{path}"
    return make_image_data(images, name=display, kind=kind, source=source, skipped=skipped)
