"""Error family: every user-facing failure is one of these, mapped to an exit code.

The CLI catches GanctlError, prints its one-line message and exits with `exit_code`;
anything else is a bug and shows a traceback only with --verbose.
"""
from __future__ import annotations

from pathlib import Path


class GanctlError(Exception):
    """Base class: a message fit for one line, and an exit code."""

    exit_code = 1

    def __init__(self, message: str, path: str | Path | None = None):
        self.path = str(path) if path is not None else None
        super().__init__(f"{path}: {message}" if path is not None else message)


class UsageError(GanctlError):
    """Bad option values or combinations (unknown preset, metric typo, ...)."""

    exit_code = 2


class InputFileError(GanctlError):
    """A file the user gave is missing, unreadable, corrupt, foreign or of the wrong version."""

    exit_code = 3


class DataError(GanctlError):
    """A dataset cannot be found, downloaded or decoded."""

    exit_code = 4


class SpecError(GanctlError):
    """A genotype/spec/plan is inconsistent: unknown op, cells that do not connect, wrong resolution."""

    exit_code = 5


class RunDirError(GanctlError):
    """--out points at a finished run, a run in use by another process, or an unwritable place."""

    exit_code = 6


class WeightsUnavailableError(GanctlError):
    """Feature-extractor weights (Inception) cannot be downloaded or found."""

    exit_code = 7


class TrainingDivergedError(GanctlError):
    """A loss became NaN/Inf; the last good checkpoint is kept."""

    exit_code = 8


class OutOfMemoryError(GanctlError):
    """The host or the accelerator ran out of memory (a size too big for the machine)."""

    exit_code = 9


EXIT_CODES = {cls.exit_code: cls.__name__ for cls in (UsageError, InputFileError, DataError, SpecError, RunDirError,
                                                      WeightsUnavailableError, TrainingDivergedError,
                                                      OutOfMemoryError)}
