"""What every subcommand shares: global options, error mapping, and the result line."""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from rich.console import Console

from ganctl.cli.runinfo import LazyBars
from ganctl.errors import GanctlError, OutOfMemoryError

DeviceOpt = Annotated[str, typer.Option("--device", help="auto | cpu | cuda | cuda:N. auto picks the GPU if present.")]


def check_seed_flag(value: int | None) -> int | None:
    """Seeds live in [0, 2**63) (torch.manual_seed's range): anything else is a usage error, exit 2."""
    if value is not None and not 0 <= value < 1 << 63:
        raise typer.BadParameter(f"{value} is outside [0, 2**63)")
    return value


SeedOpt = Annotated[int, typer.Option("--seed", help="Master seed; per-purpose streams derive from it.",
                                      callback=check_seed_flag)]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars, tables or notes (warnings and logs still written).")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Show tracebacks and debug logging.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a machine-readable JSON result as the last line.")]


@dataclass
class Globals:
    device: str = "auto"
    seed: int = 0
    quiet: bool = False
    verbose: bool = False
    json: bool = False

    @property
    def console(self) -> Console:
        # progress and tables go to stderr so stdout stays clean for --json and shell pipelines
        return Console(stderr=True, quiet=self.quiet or not _is_rank_zero())

    @property
    def warning_console(self) -> Console:
        """Warnings change what a number means, so --quiet does not hide them (other ranks stay silent)."""
        return Console(stderr=True, quiet=not _is_rank_zero())


def _is_rank_zero() -> bool:
    return os.environ.get("RANK", "0") == "0"


def run(g: Globals, body: Callable[[], dict[str, Any] | None]) -> None:
    """Run a command body: one line per failure, exit codes from the error class, tracebacks on --verbose."""
    logging.basicConfig(level=logging.DEBUG if g.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    if not g.verbose:
        warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\..*")
        warnings.filterwarnings("ignore", category=FutureWarning)
    bars = LazyBars(g.console)
    try:
        try:
            from ganctl.runtime import progress_reporter  # lazy: loads torch; --help and flag errors stay fast

            with progress_reporter(bars):
                try:
                    result = body()
                finally:
                    bars.stop()  # a failure mid-decode must not leave a live bar behind
        except GanctlError as e:
            if g.verbose:
                traceback.print_exc()
            _fail(str(e), e.exit_code, g)
        except KeyboardInterrupt:
            _fail("interrupted", 130, g)
        except BrokenPipeError:
            raise
        except Exception as e:  # noqa: BLE001 - the one place that turns bugs into a clear line
            if g.verbose:
                traceback.print_exc()
            oom = out_of_memory_message(e)
            if oom is not None:
                _fail(oom, OutOfMemoryError.exit_code, g)
            name = type(e).__name__
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            _fail(f"internal error: {name}: {first[:200]} (rerun with --verbose for the traceback)", 70, g)
        else:
            if result is not None and _is_rank_zero():
                emit(result, g)
                sys.stdout.flush()
    except BrokenPipeError:
        _quiet_broken_pipe()


_OOM_TEXT = ("out of memory", "not enough memory", "defaultcpuallocator", "cannot allocate memory",
             "can't allocate memory", "failed to allocate")


def out_of_memory_message(e: BaseException) -> str | None:
    """One line naming the cause when `e` is an out-of-memory failure (host or device), else None."""
    import torch  # lazy: loads torch; --help and flag errors stay fast

    text = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
    if isinstance(e, torch.OutOfMemoryError):
        return f"out of memory on the accelerator ({text}); try a smaller --batch-size or model"
    if isinstance(e, MemoryError) or (isinstance(e, RuntimeError) and any(t in text.lower() for t in _OOM_TEXT)):
        return f"out of host memory ({text}); try a smaller --batch-size, --num or model"
    return None


def _quiet_broken_pipe() -> None:
    """The reader of our stdout went away (`| head`): stop quietly, as a well-behaved filter does."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush cannot fail again
    except OSError:
        pass
    raise typer.Exit(0)


def _fail(message: str, code: int, g: Globals) -> None:
    print(f"error: {message}", file=sys.stderr)
    if g.json and _is_rank_zero():
        print(json.dumps({"ok": False, "error": message, "exit_code": code}))
    raise typer.Exit(code)


def emit(result: dict[str, Any], g: Globals) -> None:
    """The last stdout line: JSON with --json, else the main output path (conventions 1)."""
    if g.json:
        print(json.dumps({"ok": True, **result}, default=str))
    elif "output" in result:
        print(result["output"])


DataOpt = Annotated[
    str,
    typer.Option(
        "--data",
        help="sprites | shapes (built-in, offline) | cifar10 | cifar100 | stl10 | celeba | fashion-mnist | folder:PATH | npz:PATH",
    ),
]
DataRootOpt = Annotated[str | None, typer.Option("--data-root", help="Where torchvision datasets live / download to.")]
ResolutionOpt = Annotated[
    int | None, typer.Option("--resolution", help="Image size (default: the dataset's or model's).")
]
