"""On-disk cache of decoded datasets, keyed by the source listing and the resolution.

Decoding 50k PNGs or 200k JPEGs takes minutes; reading one safetensors file takes a
second. The key hashes every source file's relative path, size and mtime plus the
resolution and the loader version, so any change to the files is a miss, never a stale hit.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ganctl.io.atomic import current_umask

LOADER_VERSION = "2"  # 2: high-bit-depth images rescaled, not clipped


def cache_root() -> Path:
    """ganctl's cache folder: $GANCTL_CACHE, else ~/.cache/ganctl."""
    env = os.environ.get("GANCTL_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "ganctl"


def default_data_root() -> Path:
    """Where torchvision datasets are looked for / downloaded when --data-root is not given."""
    return cache_root() / "data"


def listing_key(kind: str, base: Path, files: list[Path], resolution: int, extra: str = "") -> str:
    """sha256 over (relative path, size, mtime_ns) of every file + resolution + loader version."""
    digest = hashlib.sha256(f"{kind}|{resolution}|{LOADER_VERSION}|{extra}\n".encode())
    for path in files:
        stat = path.stat()
        rel = path.relative_to(base).as_posix() if path.is_relative_to(base) else str(path)
        digest.update(f"{rel}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _cache_file(kind: str, key: str) -> Path:
    return cache_root() / "data" / "decoded" / f"{kind}-{key[:24]}.safetensors"


def load_cached(kind: str, key: str) -> tuple[torch.Tensor, dict[str, str]] | None:
    """The cached uint8 images and metadata, or None on a miss (or an unreadable cache file)."""
    path = _cache_file(kind, key)
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = dict(handle.metadata() or {})
            images = handle.get_tensor("images")
    except (OSError, KeyError, SafetensorError) as exc:
        warnings.warn(f"{path}: unreadable data cache ({exc}); decoding again", stacklevel=3)
        return None
    if meta.get("key") != key or images.dtype != torch.uint8 or images.ndim != 4:
        return None
    return images, meta


def save_cached(kind: str, key: str, images: torch.Tensor, meta: dict[str, str]) -> Path | None:
    """Atomically write the decoded set (temp file in the same folder + os.replace)."""
    path = _cache_file(kind, key)
    tmp_name = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        os.fchmod(fd, 0o666 & ~current_umask())  # a shared cache stays readable (mkstemp gives 0600)
        os.close(fd)
        save_file({"images": images.contiguous()}, tmp_name, metadata={**meta, "key": key})
        os.replace(tmp_name, path)
        return path
    except OSError as exc:  # a read-only cache must not stop training
        warnings.warn(f"{path}: could not write data cache ({exc})", stacklevel=3)
        if tmp_name and os.path.exists(tmp_name):
            os.unlink(tmp_name)
        return None
