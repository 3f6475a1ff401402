"""`ganctl info`: what is this file?"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ganctl.cli.common import Globals, JsonOpt, QuietOpt, VerboseOpt, run


def command(
    paths: Annotated[list[Path], typer.Argument(help="Artifacts, genotypes, checkpoints, ranks.json or run folders.")],
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Describe ganctl files: kind, spec, parameter count (and non-zeros), provenance.

    Example:

        ganctl info runs/train/generator.safetensors runs/search/genotype.json
    """
    g = Globals(quiet=quiet, verbose=verbose, json=json_out)

    def body() -> dict:
        from rich.console import Console
        from rich.pretty import Pretty

        from ganctl.io.inspect import describe

        described = [describe(p) for p in paths]
        if not g.json:
            out = Console()  # info's answer is its output: stdout
            out.on_broken_pipe = _reader_gone  # type: ignore[method-assign]  # run() exits quietly
            for d in described:
                out.print(Pretty(d)) if not g.quiet else print(json.dumps(d, default=str))
        return {"items": described}

    run(g, body)


def _reader_gone() -> None:
    """Rich would exit 1 on a closed pipe; hand it to run(), which stops quietly with 0 like `emit` does."""
    raise BrokenPipeError
