"""Single output files (`sample --grid/--npz`) and plain output folders: never clobber what ganctl did not write.

ganctl tags what it writes: PNGs carry a tEXt chunk `Software=ganctl`, .npz archives a zip
comment. An existing file without the tag is the user's and is replaced only with --overwrite.
"""
from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

from ganctl.errors import RunDirError
from ganctl.io.safeio import check_regular

TAG = "ganctl"
NPZ_COMMENT = b"written by ganctl"


def png_is_ganctl(path: Path) -> bool:
    from PIL import Image  # lazy: Pillow is needed only when an existing PNG is checked

    try:
        check_regular(path, max_bytes=1 << 30)
        with Image.open(path) as im:
            return getattr(im, "text", {}).get("Software") == TAG
    except Exception:  # noqa: BLE001 - unreadable means "not ours"
        return False


def npz_is_ganctl(path: Path) -> bool:
    try:
        check_regular(path)
        with zipfile.ZipFile(path) as z:
            return z.comment == NPZ_COMMENT
    except Exception:  # noqa: BLE001 - unreadable means "not ours"
        return False


def is_ganctl_file(path: Path) -> bool:
    return npz_is_ganctl(path) if path.suffix.lower() == ".npz" else png_is_ganctl(path)


def check_output_file(path: str | Path, overwrite: bool, flag: str) -> None:
    """Refuse (exit 6) to replace an existing file ganctl did not write, unless --overwrite."""
    path = Path(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as e:
        raise RunDirError(f"{flag}: cannot inspect the target ({e.strerror or e})", path) from None
    if not stat.S_ISREG(st.st_mode):
        raise RunDirError(f"{flag}: the target exists and is not a regular file", path)
    if not overwrite and not is_ganctl_file(path):
        raise RunDirError(f"{flag}: the file exists and was not written by ganctl; pass --overwrite to "
                          "replace it", path)


def tag_npz(path: str | Path) -> None:
    """Mark an .npz as ganctl's (a zip comment; NumPy readers ignore it)."""
    with zipfile.ZipFile(path, "a") as z:
        z.comment = NPZ_COMMENT
