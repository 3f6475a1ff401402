"""Training/search/compress checkpoints: tensors and plain types only, loaded with weights_only=True."""
from __future__ import annotations

import contextlib
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from ganctl.errors import InputFileError
from ganctl.io.atomic import atomic_target
from ganctl.io.finite import check_finite
from ganctl.io.safeio import check_regular, contents_of

CHECKPOINT_FORMAT = "ganctl.checkpoint"
CHECKPOINT_VERSION = 1
CHECKPOINT_KINDS = ("train", "search", "compress")


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write atomically; the previous checkpoint stays readable until the new one is complete."""
    kind = state.get("kind")
    if kind not in CHECKPOINT_KINDS:
        raise ValueError(f"checkpoint kind must be one of {CHECKPOINT_KINDS}, got {kind!r}")
    payload = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **state}
    with atomic_target(path) as tmp:
        try:
            torch.save(payload, tmp)
        except RuntimeError as e:  # torch's zip writer reports a full disk as RuntimeError, not OSError
            first = str(e).strip().splitlines()[0] if str(e).strip() else "RuntimeError"
            raise OSError(f"torch.save failed ({first[:160]}; is the disk full?)") from e


def load_checkpoint(path: str | Path, expect_kind: str | None = None, finite: bool = True) -> dict[str, Any]:
    """Load without executing code; every failure is one line naming the file."""
    path = Path(path)
    check_regular(path, what="checkpoint")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, ValueError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputFileError(f"not a readable ganctl checkpoint ({first[:160]})", path) from e
    except Exception as e:  # noqa: BLE001 - any unpickling failure of a foreign file is bad input
        raise InputFileError(f"not a readable ganctl checkpoint ({type(e).__name__})", path) from e
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise InputFileError("not a ganctl checkpoint (missing format tag)", path)
    if state.get("version") != CHECKPOINT_VERSION:
        raise InputFileError(
            f"checkpoint version {state.get('version')!r} is not supported (expected {CHECKPOINT_VERSION})", path
        )
    if expect_kind is not None and state.get("kind") != expect_kind:
        raise InputFileError(f"is a {state.get('kind')!r} checkpoint, expected {expect_kind!r}", path)
    if finite:
        check_finite(state, path, "checkpoint tensors")
    return state


def restoring(path: str | Path) -> contextlib.AbstractContextManager[None]:
    """Map a checkpoint whose contents do not fit the run (missing keys, wrong types/shapes) to exit 3."""
    return contents_of(path, "checkpoint does not fit this run", also=(RuntimeError,))
