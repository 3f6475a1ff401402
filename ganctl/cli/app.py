"""The `ganctl` Typer application: one thin subcommand per stage."""
from __future__ import annotations

import typer

import ganctl
from ganctl.cli import compress, evaluate, export, import_cmd, info, sample, search, train

app = typer.Typer(
    name="ganctl",
    help="Search, train, compress, evaluate and sample small, high-quality GANs.\n\n"
    "Stages pass files (genotype.json, generator.safetensors, checkpoints), so shell scripts chain them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("search", no_args_is_help=True)(search.command)
app.command("train", no_args_is_help=True)(train.command)
app.command("compress", no_args_is_help=True)(compress.command)
app.command("evaluate", no_args_is_help=True)(evaluate.command)
app.command("sample", no_args_is_help=True)(sample.command)
app.command("info", no_args_is_help=True)(info.command)
app.command("import", no_args_is_help=True)(import_cmd.command)
app.command("export", no_args_is_help=True)(export.command)


@app.callback(invoke_without_command=True)
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True),
) -> None:
    if version:
        print(f"ganctl {ganctl.__version__}")
        raise typer.Exit(0)


def main() -> None:
    app()
