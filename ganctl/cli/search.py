"""`ganctl search` — not built yet; its issue lands it."""
from __future__ import annotations

import sys

import typer


def command(args: list[str] = typer.Argument(None, help="(not built yet)")) -> None:
    """Not built yet."""
    print("error: ganctl search is not built yet", file=sys.stderr)
    raise typer.Exit(2)
