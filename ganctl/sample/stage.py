"""`ganctl.sample.run(cfg)`: the sample stage, everything `ganctl sample` does except flags and printing.

Flags are checked before the artifact is read, the artifact before any output is touched; a folder
output is locked (one writer), a single file is replaced only when ganctl wrote it or with overwrite.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ganctl.errors import RunDirError, UsageError
from ganctl.evaluate.generate import Generation, generate_uint8
from ganctl.evaluate.sample import check_grid_scale, interpolate, sample_to_dir, sample_to_npz, save_grid
from ganctl.io.outputs import check_output_file
from ganctl.io.rundir import lock_folder
from ganctl.models.artifact import load_generator
from ganctl.models.limits import MAX_SAMPLES, check_sizes
from ganctl.runtime import AUTO, resolve_device, resolve_precision


@dataclass
class SampleConfig:
    """Which artifact, how many images, and exactly one destination: grid, out_dir or npz."""

    artifact: Path
    num: int = 64
    grid: Path | None = None
    out_dir: Path | None = None
    npz: Path | None = None
    interpolate: int = 0  # K > 1: K slerp steps between `num` noise pairs, one grid row each
    nrow: int | None = None
    scale: int = 1  # grids only: each image enlarged by whole pixels (nearest neighbour)
    batch_size: int = Generation.batch_size
    precision: str = AUTO  # bf16 on a GPU, fp32 on the CPU
    channels_last: bool | None = None  # None: on with a GPU
    overwrite: bool = False
    compile: bool = False
    device: str = "auto"
    seed: int = 0


@dataclass
class SampleOutcome:
    path: Path  # the grid, folder or .npz written
    count: int  # images written
    precision: str  # the resolved generator precision
    artifact_sha256: str


def check(cfg: SampleConfig, *, any_destinations: bool = False) -> None:
    """Every flag error, before the artifact is read (usage errors, exit 2).

    `any_destinations`: the Python API `ganctl.sample` may write several destinations, or none."""
    targets = [t for t in (cfg.grid, cfg.out_dir, cfg.npz) if t is not None]
    if len(targets) != 1 and not any_destinations:
        raise UsageError("give exactly one of --grid FILE.png, --out-dir DIR, --npz FILE.npz")
    if cfg.num <= 0:
        raise UsageError(f"--num must be positive, got {cfg.num}")
    if cfg.batch_size <= 0:
        raise UsageError(f"--batch-size must be positive, got {cfg.batch_size}")
    if cfg.interpolate and (cfg.interpolate < 2 or cfg.grid is None):
        raise UsageError("--interpolate K needs K >= 2 and --grid")
    check_grid_scale(cfg.scale, "--scale")
    if cfg.scale != 1 and cfg.grid is None:
        raise UsageError("--scale enlarges a --grid; numbered PNGs and .npz keep the generator's pixels")
    if cfg.grid is not None and cfg.grid.suffix.lower() != ".png":
        raise UsageError(f"--grid {cfg.grid}: the grid is written as PNG; name it *.png")
    resolve_precision(cfg.precision, "cpu")  # a bad value fails before the artifact is read
    check_sizes({"num": cfg.num, "batch_size": cfg.batch_size, "nrow": cfg.nrow})
    if cfg.interpolate and cfg.num * cfg.interpolate > MAX_SAMPLES:
        raise UsageError(f"--num {cfg.num} × --interpolate {cfg.interpolate} is more than {MAX_SAMPLES:,} images")


def run(cfg: SampleConfig) -> SampleOutcome:
    """Generate cfg.num images (or cfg.num interpolation rows) for cfg.seed and write them."""
    check(cfg)
    dev = resolve_device(cfg.device)
    gen = Generation(dev, cfg.batch_size, resolve_precision(cfg.precision, dev), cfg.channels_last, cfg.compile)
    G, info = load_generator(cfg.artifact, dev)  # before any output is touched
    if cfg.out_dir is not None:
        if cfg.out_dir.exists() and not cfg.out_dir.is_dir():
            raise RunDirError("--out-dir exists and is not a folder", cfg.out_dir)
        lock = lock_folder(cfg.out_dir)  # one writer per folder
        try:
            paths = sample_to_dir(G, cfg.num, cfg.seed, cfg.out_dir, gen, overwrite=cfg.overwrite)
        finally:
            lock.close()
        return SampleOutcome(cfg.out_dir, len(paths), gen.precision, info.sha256)
    if cfg.grid is not None:
        check_output_file(cfg.grid, cfg.overwrite, "--grid")
        if cfg.interpolate:
            images = interpolate(G, cfg.interpolate, cfg.seed, num_pairs=cfg.num, gen=gen)
            path = save_grid(images, cfg.grid, nrow=cfg.interpolate, scale=cfg.scale)
            return SampleOutcome(path, len(images), gen.precision, info.sha256)
        images = generate_uint8(G, cfg.num, cfg.seed, gen.batch_size, dev, gen.precision, gen.channels_last,
                                gen.compile)
        path = save_grid(images, cfg.grid, nrow=cfg.nrow, scale=cfg.scale)
        return SampleOutcome(path, cfg.num, gen.precision, info.sha256)
    check_output_file(cfg.npz, cfg.overwrite, "--npz")
    return SampleOutcome(sample_to_npz(G, cfg.num, cfg.seed, cfg.npz, gen), cfg.num, gen.precision, info.sha256)
