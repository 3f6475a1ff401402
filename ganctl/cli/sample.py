"""`ganctl sample`: pictures from any generator artifact (dense, compressed or sparse)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ganctl.cli.common import DeviceOpt, Globals, JsonOpt, QuietOpt, SeedOpt, VerboseOpt, run


def command(  # size: Typer declares one parameter per flag
    artifact: Annotated[Path, typer.Argument(help="A generator artifact (.safetensors).")],
    num: Annotated[int, typer.Option("--num", "-n", help="Number of images (pairs with --interpolate).")] = 64,
    grid: Annotated[Path | None, typer.Option("--grid", help="Write one PNG grid here.")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out-dir", help="Write numbered PNGs into this folder.")] = None,
    npz: Annotated[Path | None, typer.Option("--npz", help="Write uint8 N×H×W×3 under key 'x' into this .npz.")] = None,
    interpolate: Annotated[
        int, typer.Option("--interpolate", help="K > 1: slerp K steps between --num noise pairs, one row each.")
    ] = 0,
    nrow: Annotated[int | None, typer.Option("--nrow", help="Images per grid row (default: square).")] = None,
    scale: Annotated[
        int, typer.Option("--scale", help="Enlarge each grid image K times by whole pixels (e.g. 4 for 16 px data).")
    ] = 1,
    batch_size: Annotated[
        int, typer.Option("--batch-size", help="Generation batch size (pixels do not depend on it).")
    ] = 256,
    precision: Annotated[
        str, typer.Option("--precision", help="auto | fp32 | bf16 (auto: bf16 on GPU, fp32 on CPU).")
    ] = "auto",
    channels_last: Annotated[
        bool | None,
        typer.Option("--channels-last/--no-channels-last", help="NHWC memory format (default: on with a GPU)."),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing --grid/--npz/--out-dir file ganctl did not write.")
    ] = False,
    compile: Annotated[
        bool, typer.Option("--compile/--no-compile", help="torch.compile the generator (pays off for large --num).")
    ] = False,
    device: DeviceOpt = "auto",
    seed: SeedOpt = 0,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Generate images: a grid, a folder of PNGs or an .npz; deterministic for a --seed at any batch size.

    An existing --grid/--npz file (or numbered PNG in --out-dir) is replaced only when ganctl wrote it
    (its PNG text tag or .npz comment says so) or with --overwrite.

    Example:

        ganctl sample runs/small/generator.safetensors --num 64 --seed 1 --grid samples.png

        ganctl sample runs/train/generator.safetensors --num 50000 --npz samples.npz --precision bf16 --compile

        ganctl sample runs/train/generator.safetensors --num 6 --interpolate 10 --grid lerp.png

        ganctl sample runs/demo/train/generator.safetensors --num 64 --scale 4 --grid big.png
    """
    g = Globals(device=device, seed=seed, quiet=quiet, verbose=verbose, json=json_out)

    def body() -> dict:
        from ganctl.sample.stage import SampleConfig  # lazy: loads torch; --help and flag errors stay fast
        from ganctl.sample.stage import run as sample  # lazy: loads torch; --help and flag errors stay fast

        done = sample(SampleConfig(
            artifact=artifact, num=num, grid=grid, out_dir=out_dir, npz=npz, interpolate=interpolate, nrow=nrow,
            scale=scale, batch_size=batch_size, precision=precision, channels_last=channels_last, overwrite=overwrite,
            compile=compile, device=device, seed=seed,
        ))
        g.console.log(f"wrote {done.count} images from {artifact} (seed {seed}, {done.precision}) to {done.path}")
        return {"output": str(done.path), "count": done.count, "seed": seed, "artifact_sha256": done.artifact_sha256}

    run(g, body)
