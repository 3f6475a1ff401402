"""Atomic writes: a crash or a full disk never leaves a half-written file in place of a good one."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ganctl.errors import RunDirError

# Callables told of every file about to be put in place (RunDir's manifest of created files).
WRITE_HOOKS: list[Callable[[Path], None]] = []


def current_umask() -> int:
    """The process umask, read without changing it where Linux allows (/proc), else by set-and-restore."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_target(path: str | Path) -> Iterator[Path]:
    """Yield a temp path beside `path`; rename it into place only if the block succeeds."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        mode = 0o666 & ~current_umask()  # what a plain open() would give; mkstemp's 0600 hides shared runs
    except OSError as e:
        raise RunDirError(f"cannot write here: {e.strerror or e}", path) from e
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        for hook in WRITE_HOOKS:  # run folders record what ganctl created (before the name exists)
            hook(path)
        os.chmod(tmp_path, mode)  # after the writer: some (safetensors) recreate the file
        os.replace(tmp_path, path)
    except OSError as e:
        tmp_path.unlink(missing_ok=True)
        raise RunDirError(f"write failed: {e.strerror or e}; previous file left intact", path) from e
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_target(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
