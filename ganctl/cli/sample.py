"""`ganctl sample`: pictures from any generator artifact (dense, compressed or sparse)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ganctl.cli.common import DeviceOpt, Globals, JsonOpt, QuietOpt, SeedOpt, VerboseOpt, run


def command(
    artifact: Annotated[Path, typer.Argument(help="A generator artifact (.safetensors).")],
    num: Annotated[int, typer.Option("--num", "-n", help="Number of images (pairs with --interpolate).")] = 64,
    grid: Annotated[Path | None, typer.Option("--grid", help="Write one PNG grid here.")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out-dir", help="Write numbered PNGs into this folder.")] = None,
    npz: Annotated[Path | None, typer.Option("--npz", help="Write uint8 N×H×W×3 under key 'x' into this .npz.")] = None,
    interpolate: Annotated[
        int, typer.Option("--interpolate", help="K > 1: slerp K steps between --num noise pairs, one row each.")
    ] = 0,
    nrow: Annotated[int | None, typer.Option("--nrow", help="Images per grid row (default: square).")] = None,
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
        bool, typer.Option("--compile", help="torch.compile the generator (pays off for large --num).")
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
    """
    g = Globals(device=device, seed=seed, quiet=quiet, verbose=verbose, json=json_out)

    def body() -> dict:
        from ganctl.errors import RunDirError, UsageError

        # lazy: loads torch; --help and flag errors stay fast
        from ganctl.evaluate.generate import generate_uint8, resolve_precision
        from ganctl.evaluate.sample import interpolate as interp  # lazy: loads torch; --help and flag errors stay fast

        # lazy: loads torch; --help and flag errors stay fast
        from ganctl.evaluate.sample import sample_to_dir, sample_to_npz, save_grid
        from ganctl.io.outputs import check_output_file
        from ganctl.io.rundir import lock_folder
        from ganctl.models.artifact import load_generator  # lazy: loads torch; --help and flag errors stay fast
        from ganctl.models.limits import MAX_SAMPLES, check_sizes  # lazy: loads torch; --help and flag errors stay fast
        from ganctl.runtime import resolve_device  # lazy: loads torch; --help and flag errors stay fast

        targets = [t for t in (grid, out_dir, npz) if t is not None]
        if len(targets) != 1:
            raise UsageError("give exactly one of --grid FILE.png, --out-dir DIR, --npz FILE.npz")
        if num <= 0:
            raise UsageError(f"--num must be positive, got {num}")
        if batch_size <= 0:
            raise UsageError(f"--batch-size must be positive, got {batch_size}")
        if interpolate and (interpolate < 2 or grid is None):
            raise UsageError("--interpolate K needs K >= 2 and --grid")
        if grid is not None and grid.suffix.lower() != ".png":
            raise UsageError(f"--grid {grid}: the grid is written as PNG; name it *.png")
        resolve_precision(precision, "cpu")  # a bad value fails before the artifact is read
        check_sizes({"num": num, "batch_size": batch_size, "nrow": nrow})
        if interpolate and num * interpolate > MAX_SAMPLES:
            raise UsageError(f"--num {num} × --interpolate {interpolate} is more than {MAX_SAMPLES:,} images")
        dev = resolve_device(device)
        prec = resolve_precision(precision, dev)
        G, info = load_generator(artifact, dev)  # before any output is touched
        lock = None
        if out_dir is not None:
            if out_dir.exists() and not out_dir.is_dir():
                raise RunDirError("--out-dir exists and is not a folder", out_dir)
            lock = lock_folder(out_dir)  # one writer per folder
        else:
            check_output_file(grid if grid is not None else npz, overwrite, "--grid" if grid is not None else "--npz")
        if interpolate:
            images = interp(G, interpolate, seed, num_pairs=num, device=dev, batch_size=batch_size, precision=prec,
                            channels_last=channels_last, compile=compile)
            path = save_grid(images, grid, nrow=interpolate)
            count = len(images)
        elif grid is not None:
            images = generate_uint8(G, num, seed, batch_size, dev, prec, channels_last, compile)
            path, count = save_grid(images, grid, nrow=nrow), num
        elif out_dir is not None:
            try:
                paths = sample_to_dir(G, num, seed, out_dir, dev, batch_size, prec,
                                      channels_last=channels_last, compile=compile, overwrite=overwrite)
            finally:
                lock.close()
            path, count = out_dir, len(paths)
        else:
            path = sample_to_npz(G, num, seed, npz, dev, batch_size, prec, channels_last, compile)
            count = num
        g.console.log(f"wrote {count} images from {artifact} (seed {seed}, {prec}) to {path}")
        return {"output": str(path), "count": count, "seed": seed, "artifact_sha256": info.sha256}

    run(g, body)
