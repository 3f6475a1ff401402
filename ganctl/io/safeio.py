"""Bounded reading of user files: regular files only, size-capped, JSON depth-capped, never blocks.

Every file a user hands ganctl is opened here (or checked here before a library opens it).
A FIFO, a device or a folder given where a file belongs would make a plain `open().read()`
block forever or read without end, so the type is checked with `stat` before opening and
again with `fstat` on a descriptor opened with O_NONBLOCK. JSON is parsed with a nesting
limit checked before the parser runs (the stdlib parser recurses and would raise
RecursionError), and the non-standard constants NaN/Infinity are refused.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ganctl.errors import GanctlError, InputFileError

MAX_JSON_BYTES = 64 << 20  # genotypes, plans, configs, status and metrics are kilobytes
MAX_JSON_DEPTH = 64  # the deepest ganctl document nests about 6 levels
MAX_BINARY_BYTES = 16 << 30  # artifacts/checkpoints/npz: big, but not unbounded


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO/pipe"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def check_regular(path: str | Path, *, max_bytes: int = MAX_BINARY_BYTES, what: str = "file",
                  error: type[GanctlError] = InputFileError) -> int:
    """Raise `error` unless `path` is an existing regular file of at most `max_bytes`; return its size."""
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise error(f"{what} not found", path) from None
    except OSError as e:
        raise error(f"cannot read {what} ({e.strerror or e})", path) from None
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{what} is {_kind(st.st_mode)}, expected a regular file", path)
    if st.st_size > max_bytes:
        raise error(f"{what} is {st.st_size:,} bytes, more than the {max_bytes:,} allowed", path)
    return st.st_size


def read_bytes(path: str | Path, *, max_bytes: int = MAX_JSON_BYTES, what: str = "file",
               error: type[GanctlError] = InputFileError) -> bytes:
    """The whole file, read only if it is a regular file within the cap (re-checked on the open descriptor)."""
    path = Path(path)
    check_regular(path, max_bytes=max_bytes, what=what, error=error)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise error(f"cannot read {what} ({e.strerror or e})", path) from None
    try:
        st = os.fstat(fd)  # the path may have been swapped for a FIFO between stat and open
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{what} is {_kind(st.st_mode)}, expected a regular file", path)
        chunks, total = [], 0
        while True:
            block = os.read(fd, 1 << 20)
            if not block:
                break
            total += len(block)
            if total > max_bytes:
                raise error(f"{what} is more than the {max_bytes:,} bytes allowed", path)
            chunks.append(block)
        return b"".join(chunks)
    except OSError as e:
        raise error(f"cannot read {what} ({e.strerror or e})", path) from None
    finally:
        os.close(fd)


def json_depth(text: str) -> int:
    """Deepest bracket nesting outside strings (a linear scan; no recursion)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def _no_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name} (numbers must be finite)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} overflows a 64-bit float")
    return value


def parse_json(text: str | bytes, source: str | Path, *, what: str = "JSON file",
               max_depth: int = MAX_JSON_DEPTH, error: type[GanctlError] = InputFileError) -> Any:
    """Parse JSON text from `source`; every failure is `error` naming `source`."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise error(f"{what} is not UTF-8 text ({e.reason} at byte {e.start})", source) from None
    if len(text) > MAX_JSON_BYTES:
        raise error(f"{what} is more than the {MAX_JSON_BYTES:,} characters allowed", source)
    depth = json_depth(text)
    if depth > max_depth:
        raise error(f"{what} nests {depth} levels deep, more than the {max_depth} allowed", source)
    try:
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except json.JSONDecodeError as e:
        raise error(f"{what} is not valid JSON (line {e.lineno} column {e.colno}: {e.msg})", source) from None
    except (ValueError, RecursionError) as e:
        raise error(f"{what} is not valid JSON ({str(e)[:160]})", source) from None


def read_json(path: str | Path, *, what: str = "JSON file", max_bytes: int = MAX_JSON_BYTES,
              max_depth: int = MAX_JSON_DEPTH, error: type[GanctlError] = InputFileError) -> Any:
    """The one reader for every JSON input: regular file, size cap, depth cap, finite numbers."""
    return parse_json(read_bytes(path, max_bytes=max_bytes, what=what, error=error), path, what=what,
                      max_depth=max_depth, error=error)


def read_json_object(path: str | Path, *, what: str = "JSON file",
                     error: type[GanctlError] = InputFileError) -> dict[str, Any]:
    obj = read_json(path, what=what, error=error)
    if not isinstance(obj, dict):
        raise error(f"{what} must hold a JSON object, found {type(obj).__name__}", path)
    return obj


# what reading a parsed file's contents raises when they are not as ganctl wrote them
MALFORMED = (KeyError, TypeError, ValueError, IndexError, AttributeError)


@contextlib.contextmanager
def contents_of(path: str | Path, problem: str = "is not as ganctl wrote it",
                also: tuple[type[Exception], ...] = ()) -> Iterator[None]:
    """Code that uses a parsed file's contents: a missing key or a value of the wrong type or shape becomes a
    bad input file naming `path` (exit 3), not a traceback from deep inside the caller."""
    try:
        yield
    except (*MALFORMED, *also) as e:
        if "memory" in str(e).lower():  # out of memory is not a file problem
            raise
        first = str(e).strip().splitlines()[0][:160] if str(e).strip() else ""
        raise InputFileError(f"{problem} ({type(e).__name__}: {first})", path) from e
