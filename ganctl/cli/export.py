"""`ganctl export`: a generator artifact as ONNX or TorchScript for deployment."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from ganctl.cli.common import Globals, JsonOpt, QuietOpt, SeedOpt, VerboseOpt, run
from ganctl.export import DEFAULT_OPSET


def command(  # size: Typer declares one parameter per flag
    artifact: Annotated[Path, typer.Argument(help="A generator artifact (.safetensors): dense, compressed or sparse.")],
    out: Annotated[Path, typer.Option("--out", help="The file to write (*.onnx, or *.pt for TorchScript).")],
    fmt: Annotated[str, typer.Option("--format", help="onnx | torchscript.", show_default=True)] = "onnx",
    batch: Annotated[int, typer.Option("--batch", help="Fixed batch size of the exported model.", show_default=True)] = 1,
    dynamic_batch: Annotated[
        bool, typer.Option("--dynamic-batch", help="Accept any batch size (overrides --batch).")
    ] = False,
    opset: Annotated[int, typer.Option("--opset", help="ONNX opset version.", show_default=True)] = DEFAULT_OPSET,
    force: Annotated[bool, typer.Option("--force", help="Replace --out if it exists.")] = False,
    seed: SeedOpt = 0,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Export a generator for ONNX Runtime or libtorch; the file is run and compared with ganctl before it is kept.

    Input `z` (batch × latent_dim, float32 normal noise) → output `images` (batch × 3 × H × W in [-1, 1]).

    Example:

        ganctl export runs/compress/generator.safetensors --format onnx --dynamic-batch --out g.onnx

        ganctl export runs/train/generator.safetensors --format torchscript --batch 16 --out g.pt
    """
    g = Globals(device="cpu", seed=seed, quiet=quiet, verbose=verbose, json=json_out)

    def body() -> dict:
        from ganctl.export.writer import export_generator  # lazy: loads torch; --help and flag errors stay fast

        res = export_generator(artifact, out, fmt, batch=batch, dynamic_batch=dynamic_batch, opset=opset,
                               force=force, seed=seed)
        shape = "dynamic" if res.batch is None else str(res.batch)
        g.console.log(f"exported {artifact} ({res.num_params:,} parameters) as {fmt}, batch {shape}, "
                      f"z {res.latent_dim} → {res.resolution}×{res.resolution}; max |diff| vs ganctl "
                      f"{res.max_abs_diff:.2e}")
        return asdict(res)

    run(g, body)
