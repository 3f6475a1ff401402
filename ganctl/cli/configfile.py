"""Config files for train / search / compress: preset < file < the flags the user actually typed.

A run's own `config.json` is a valid config file, so `--config runs/x/config.json --out runs/y` replays
a run. Which flags were typed comes from click's parameter source, not from comparing with defaults,
so `--batch-size 64` overrides a file even when 64 is also the default.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from ganctl.errors import InputFileError, UsageError
from ganctl.io.safeio import parse_json, read_bytes
from ganctl.recipe import layered, upgrade_keys  # noqa: F401 - layered is re-exported for the CLIs

# Rich help panels, in the order a newcomer reads them (design brief: data, model, loss, optimiser,
# schedule, speed, output).
DATA, MODEL, LOSS, OPTIM, SCHEDULE, SPEED, OUTPUT = (
    "Data", "Model", "Loss", "Optimiser", "Schedule", "Speed", "Output and run control")

ConfigOpt = typer.Option(
    "--config", help="JSON or TOML file of settings (a run's config.json replays it); flags override it.",
    rich_help_panel=OUTPUT, show_default=False)
LogOpt = typer.Option(
    "--log", help="jsonl (stats.jsonl, always written) | tensorboard (also mirror it to <out>/tensorboard).",
    rich_help_panel=OUTPUT, show_default=True)
PrintConfigOpt = typer.Option(
    "--print-config", help="Print the resolved configuration as JSON and exit; nothing is created.",
    rich_help_panel=OUTPUT)


def read_config_file(path: Path, known: set[str], command: str) -> dict[str, Any]:
    """Settings from a .json or .toml file; unknown keys are a usage error naming key and file."""
    if not path.exists():
        raise InputFileError("config file not found", path)
    text = read_bytes(path, what="config file")  # regular files only, size-capped: a FIFO never blocks
    is_toml = path.suffix.lower() == ".toml"
    if not is_toml:
        data: Any = parse_json(text, path, what="config file")
    else:
        try:
            import tomllib  # lazy: the standard library has it from Python 3.11 only
        except ImportError:  # Python 3.10
            raise UsageError(f"{path}: TOML config files need Python ≥ 3.11; use JSON") from None
        try:
            data = tomllib.loads(text.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as e:  # TOMLDecodeError is a ValueError
            raise InputFileError(f"not valid TOML ({str(e).splitlines()[0][:120]})", path) from None
    if not isinstance(data, dict):
        raise InputFileError("a config file must hold one object (key = value pairs)", path)
    data = upgrade_keys(data)  # earlier spellings (width_g, mmd_bound_upper, lr, b_u, extractor, ...)
    unknown = sorted(set(data) - known)
    if unknown:
        raise UsageError(f"{path}: unknown key {unknown[0]!r} for {command}"
                         f"{f' (and {len(unknown) - 1} more)' if len(unknown) > 1 else ''}; "
                         f"keys are the {command} settings, as in a run's config.json")
    return data


def typed_flags(ctx: typer.Context) -> set[str]:
    """Parameter names the user gave on the command line (or through the environment)."""
    given = set()
    for name in ctx.params:
        source = ctx.get_parameter_source(name)
        # by name: typer may bring its own copy of click, whose enum is not click.core's
        if getattr(source, "name", None) in ("COMMANDLINE", "ENVIRONMENT"):
            given.add(name)
    return given


def print_config(config: dict[str, Any]) -> None:
    """The resolved configuration on stdout, as config.json will hold it."""
    print(json.dumps(config, indent=2, sort_keys=False, default=str))
