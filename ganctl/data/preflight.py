"""Cheap checks of a --data argument, run before a command claims its run folder.

Decoding a dataset can take minutes; whether the argument names a known dataset and whether
a folder:/npz: path is there (and of the right type) takes microseconds, so a typo fails
before anything is written.
"""
from __future__ import annotations

from pathlib import Path

from ganctl.errors import DataError
from ganctl.io.safeio import check_regular


def check_data_arg(arg: str | None) -> None:
    """Usage error for an unknown name, DataError (exit 4) for a folder:/npz: path that is not usable."""
    if not arg:
        return
    from ganctl.data.registry import parse_data_arg  # lazy: the registry loads torch; this check runs before it

    kind, path = parse_data_arg(arg)
    if path is None:
        return
    p = Path(path).expanduser()
    if kind == "folder":
        if not p.exists():
            raise DataError("image folder not found", p)
        if not p.is_dir():
            raise DataError("not a folder (folder:PATH expects a directory of images)", p)
    elif kind == "npz":
        check_regular(p, what="npz file", error=DataError)
