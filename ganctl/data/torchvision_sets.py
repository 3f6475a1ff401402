"""cifar10, cifar100, stl10, celeba, fashion-mnist: the on-disk layouts torchvision downloads.

torchvision is used only to download; reading is done here because torchvision's readers
check md5 sums of every file (slow, and impossible for test fixtures), unpickle CIFAR
batches with code execution, and hand out one PIL image at a time. CIFAR pickles are read
with an unpickler that only admits the numpy array constructors.
"""
from __future__ import annotations

import gzip
import os
import pickle
import struct
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ganctl.data.cache import default_data_root, listing_key, load_cached, save_cached
from ganctl.data.resize import resize_pil, resize_uint8
from ganctl.errors import DataError
from ganctl.runtime import report_progress

CELEBA_CROP = 140  # centre crop of the aligned 178×218 faces used by DCGAN/WGAN-GP-era papers


@dataclass(frozen=True)
class TorchvisionSource:
    """Where a torchvision dataset lives under --data-root and how it is fetched."""

    kind: str
    folder: str  # relative to the data root
    files: tuple[str, ...]  # relative to `folder`; all must exist
    homepage: str
    download: Callable[[Path], object]


def _tv():
    import torchvision.datasets as datasets  # lazy: torchvision is optional and slow to import

    return datasets


SOURCES: dict[str, TorchvisionSource] = {
    "cifar10": TorchvisionSource(
        "cifar10", "cifar-10-batches-py", tuple(f"data_batch_{i}" for i in range(1, 6)),
        "https://www.cs.toronto.edu/~kriz/cifar.html",
        lambda root: _tv().CIFAR10(str(root), train=True, download=True)),
    "cifar100": TorchvisionSource(
        "cifar100", "cifar-100-python", ("train",), "https://www.cs.toronto.edu/~kriz/cifar.html",
        lambda root: _tv().CIFAR100(str(root), train=True, download=True)),
    "stl10": TorchvisionSource(
        "stl10", "stl10_binary", ("train_X.bin", "unlabeled_X.bin"), "https://cs.stanford.edu/~acoates/stl10/",
        lambda root: _tv().STL10(str(root), split="train+unlabeled", download=True)),
    "celeba": TorchvisionSource(
        "celeba", "celeba", ("list_eval_partition.txt", "img_align_celeba"),
        "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html (img_align_celeba.zip + list_eval_partition.txt)",
        lambda root: _tv().CelebA(str(root), split="all", target_type=[], download=True)),
    "fashion-mnist": TorchvisionSource(
        "fashion-mnist", "FashionMNIST/raw", ("train-images-idx3-ubyte.gz",),
        "https://github.com/zalandoresearch/fashion-mnist",
        lambda root: _tv().FashionMNIST(str(root), train=True, download=True)),
}
FASHION_MNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Admits the numpy array constructors and nothing else (no code execution)."""

    ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
               ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "_reconstruct"),
               ("numpy._core.multiarray", "scalar"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.numeric", "_frombuffer"), ("numpy.core.numeric", "_frombuffer")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")
        if module.startswith("numpy.core") and hasattr(np, "_core"):
            module = "numpy._core" + module[len("numpy.core"):]
        return super().find_class(module, name)


def read_cifar_batch(path: Path) -> np.ndarray:
    """One CIFAR python batch file → N×3×32×32 uint8 (rows are R, G, B planes of 1024)."""
    try:
        with open(path, "rb") as handle:
            entry = _ArrayOnlyUnpickler(handle, encoding="latin1").load()
        data = entry["data"] if "data" in entry else entry[b"data"]
        return np.asarray(data, dtype=np.uint8).reshape(-1, 3, 32, 32)
    except (OSError, pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as exc:
        raise DataError(f"not a CIFAR batch file ({type(exc).__name__}: {exc})", path) from None


def _read_cifar(base: Path, source: TorchvisionSource) -> torch.Tensor:
    return torch.from_numpy(np.concatenate([read_cifar_batch(base / name) for name in source.files]))


def _read_stl10(base: Path, resolution: int, chunk: int = 4096) -> torch.Tensor:
    """train + unlabeled (105k images), stored column-major 3×96×96; resized in chunks."""
    parts = []
    for name in ("train_X.bin", "unlabeled_X.bin"):
        raw = np.memmap(base / name, dtype=np.uint8, mode="r")
        if raw.size % (3 * 96 * 96):
            raise DataError("size is not a multiple of one 3×96×96 image; file truncated?", base / name)
        raw = raw.reshape(-1, 3, 96, 96)
        for start in range(0, raw.shape[0], chunk):
            block = torch.from_numpy(np.ascontiguousarray(raw[start:start + chunk].transpose(0, 1, 3, 2)))
            parts.append(resize_uint8(block, resolution))
            report_progress(f"resize STL-10 {name}", min(start + chunk, raw.shape[0]), raw.shape[0])
    return torch.cat(parts)


def _decode_celeba(path: Path, resolution: int) -> torch.Tensor:
    try:
        with Image.open(path) as image:
            image.load()
            left, top = (image.width - CELEBA_CROP) // 2, (image.height - CELEBA_CROP) // 2
            return resize_pil(image.crop((left, top, left + CELEBA_CROP, top + CELEBA_CROP)), resolution)
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise DataError(f"cannot decode CelebA image ({exc}); re-extract img_align_celeba.zip",
                        path) from None


def celeba_filenames(base: Path, split: str = "all") -> list[str]:
    """Image names from list_eval_partition.txt (0 train, 1 valid, 2 test)."""
    wanted = {"all": None, "train": "0", "valid": "1", "test": "2"}[split]
    names = []
    for line in (base / "list_eval_partition.txt").read_text().splitlines():
        fields = line.split()
        if len(fields) == 2 and (wanted is None or fields[1] == wanted):
            names.append(fields[0])
    return names


def _read_celeba(base: Path, names: list[str], resolution: int) -> torch.Tensor:
    paths = [base / "img_align_celeba" / name for name in names]
    out = torch.empty(len(paths), 3, resolution, resolution, dtype=torch.uint8)
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        for index, image in enumerate(pool.map(lambda p: _decode_celeba(p, resolution), paths)):
            out[index] = image
            if (index + 1) % 512 == 0 or index + 1 == len(paths):
                report_progress(f"decode {len(paths):,} CelebA images", index + 1, len(paths))
    return out


def read_idx_images(path: Path) -> np.ndarray:
    """A (gzipped) IDX3 file → N×H×W uint8 (big-endian header: magic 2051, N, H, W)."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            magic, count, rows, cols = struct.unpack(">IIII", handle.read(16))
            if magic != 2051:
                raise ValueError(f"magic {magic} is not 2051")
            data = np.frombuffer(handle.read(count * rows * cols), dtype=np.uint8)
        return data.reshape(count, rows, cols)
    except (OSError, ValueError, struct.error, EOFError) as exc:
        raise DataError(f"not an IDX image file ({exc})", path) from None


def _find_fashion_mnist(root: Path, explicit_root: bool) -> Path | None:
    candidates = [root / "FashionMNIST" / "raw", root / "fashion-mnist", root]
    if not explicit_root:
        candidates.append(FASHION_MNIST_SYSTEM_DIR)
    for folder in candidates:
        if (folder / "train-images-idx3-ubyte.gz").is_file():
            return folder
    return None


def _one_line(exc: BaseException) -> str:
    text = (str(exc).strip().splitlines() or [""])[0][:160]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _missing(source: TorchvisionSource, root: Path) -> bool:
    base = root / source.folder
    return not all((base / name).exists() for name in source.files)


def locate(kind: str, root: str | Path | None, download: bool) -> Path:
    """The dataset's folder, downloading into the data root when allowed; DataError when absent."""
    source = SOURCES[kind]
    data_root = Path(root).expanduser() if root is not None else default_data_root()
    if kind == "fashion-mnist":
        found = _find_fashion_mnist(data_root, root is not None)
        if found is not None:
            return found
    elif not _missing(source, data_root):
        return data_root / source.folder
    where = f"{kind} not found under {data_root} ({source.folder}/)"
    hint = f"Get it from {source.homepage} and pass --data-root DIR (the folder containing {source.folder}/)"
    if not download:
        raise DataError(f"{where}; downloading is disabled. {hint}")
    try:
        data_root.mkdir(parents=True, exist_ok=True)
        source.download(data_root)
    except Exception as exc:  # noqa: BLE001 — urllib, tarfile, gdown and torchvision all raise differently
        raise DataError(f"{where}; download failed (offline?) [{_one_line(exc)}]. {hint}") from None
    if _missing(source, data_root):
        raise DataError(f"{where} even after downloading. {hint}")
    return data_root / source.folder


def _source_files(kind: str, base: Path, celeba_names: list[str] | None) -> list[Path]:
    if kind == "celeba":
        images = base / "img_align_celeba"
        return [base / "list_eval_partition.txt"] + [images / name for name in celeba_names or []]
    if kind == "fashion-mnist":
        return [base / "train-images-idx3-ubyte.gz"]
    return [base / name for name in SOURCES[kind].files]


def load_torchvision(kind: str, root: str | Path | None, resolution: int, download: bool,
                     split: str = "all") -> tuple[torch.Tensor, str]:
    """(N×3×R×R uint8 images, source text); decoded once, then served from the data cache."""
    base = locate(kind, root, download)
    names = celeba_filenames(base, split) if kind == "celeba" else None
    if names is not None and not names:
        raise DataError(f"no images listed for split {split!r}", base / "list_eval_partition.txt")
    files = _source_files(kind, base, names)
    try:
        key = listing_key(kind, base, files, resolution, extra=split if kind == "celeba" else "")
    except OSError as exc:
        raise DataError(f"{kind}: cannot read {exc.filename} ({exc.strerror}); incomplete download?"
                        ) from None
    cached = load_cached(kind, key)
    if cached is not None:
        return cached[0], f"{kind} train set from {base} (decoded cache)"
    if kind in ("cifar10", "cifar100"):
        images = resize_uint8(_read_cifar(base, SOURCES[kind]), resolution)
    elif kind == "stl10":
        images = _read_stl10(base, resolution)
    elif kind == "celeba":
        images = _read_celeba(base, names or [], resolution)
    else:
        gray = torch.from_numpy(read_idx_images(files[0]).copy())
        images = resize_uint8(gray[:, None].expand(-1, 3, -1, -1), resolution)
    save_cached(kind, key, images, {"kind": kind, "base": str(base)})
    return images, f"{kind} train set from {base}"
