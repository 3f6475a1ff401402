"""`ganctl import`: checkpoints of the seed paper's public code -> ganctl artifacts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ganctl.cli.common import Globals, JsonOpt, QuietOpt, VerboseOpt, run
from ganctl.errors import UsageError


def command(  # size: Typer declares one parameter per flag
    checkpoint: Annotated[Path, typer.Argument(help="A checkpoint saved by the paper's code (torch.save dict).")],
    genotype: Annotated[
        str,
        typer.Option(
            "--genotype",
            help="The generator's genotype: the code's .npy index matrix (e.g. latest_G.npy), a genotype "
            "JSON file, or a built-in name such as mmd-adversarialnas-cifar10.",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder for generator.safetensors, genotype.json, ...")],
    key: Annotated[
        str | None,
        typer.Option(
            "--key",
            help="Which generator to import: avg_gen_state_dict (the EMA, default: the one the paper "
            "evaluates) or gen_state_dict.",
        ),
    ] = None,
    discriminator: Annotated[
        bool | None,
        typer.Option(
            "--discriminator/--no-discriminator",
            help="Also import dis_state_dict as discriminator.safetensors (default: when present), "
            "for DGL (--teacher-d) and fine-tuning.",
        ),
    ] = None,
    activation: Annotated[
        str | None,
        typer.Option("--activation", help="Generator activation (default: pmish when the file has β tensors, else relu)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace files already in --out.")] = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Turn a checkpoint of the paper's public code (MMD-PMish-NAS) into a ganctl generator artifact.

    The weights are renamed, not changed: the imported generator draws the same images for the same
    z. The file is read with torch.load(weights_only=True) and never fully unpickled.

    Example:

        ganctl import checkpoint_best.pth --genotype latest_G.npy --out runs/paper-large

        ganctl evaluate runs/paper-large/generator.safetensors --data cifar10 --metrics fid,is
    """
    g = Globals(quiet=quiet, verbose=verbose, json=json_out)

    def body() -> dict:
        # lazy: loads torch; --help and flag errors stay fast
        from ganctl.models.reference_import import GENERATOR_KEYS, import_reference
        from ganctl.nn.activations import ACTIVATIONS  # lazy: loads torch; --help and flag errors stay fast

        if key is not None and key not in GENERATOR_KEYS:
            raise UsageError(f"--key {key!r}: choose {' or '.join(GENERATOR_KEYS)}")
        if activation is not None and activation not in ACTIVATIONS:
            raise UsageError(f"--activation {activation!r}: choose one of {', '.join(ACTIVATIONS)}")
        result = import_reference(
            checkpoint, genotype, out, key=key, discriminator=discriminator, activation=activation, force=force
        )
        g.console.log(
            f"imported {checkpoint} -> {result['output']} ({result['params']:,} parameters, "
            f"width {result['width']}, {result['resolution']} px, {result['activation']})"
        )
        return result

    run(g, body)
