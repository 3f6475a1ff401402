"""`ganctl train` — train a genotype-built GAN with the MMD recipe; exact resume, DDP, sparse, DGL."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from ganctl.cli.common import Globals, check_seed_flag, run
from ganctl.cli.common import _is_rank_zero as is_rank_zero
from ganctl.cli.configfile import (
    DATA,
    LOSS,
    MODEL,
    OPTIM,
    OUTPUT,
    SCHEDULE,
    SPEED,
    ConfigOpt,
    LogOpt,
    PrintConfigOpt,
    layered,
    read_config_file,
    typed_flags,
)
from ganctl.cli.configfile import print_config as print_resolved
from ganctl.cli.runinfo import best_row, header, summary, train_header_parts
from ganctl.logsink import TensorBoardSink, check_log_choice
from ganctl.train.config import DEFAULT_PRESET, TrainConfig, from_flags, preset_values


def _preset_default(name: str) -> str | bool:
    """What an option resolves to without flags: the default preset's value (help shows it)."""
    key = name.lstrip("-").split("/")[0].replace("-", "_")
    if key == "preset":
        return DEFAULT_PRESET
    if key == "precision":
        return False  # depends on the device: help says so
    values = preset_values(DEFAULT_PRESET)
    if key in values:
        return False if values[key] is None else f"{DEFAULT_PRESET}: {values[key]}"
    default = getattr(TrainConfig, key, None)
    return f"{default}" if default not in (None, "") and key not in ("out", "seed") else False


def _opt(*names: str, help: str, panel: str) -> Any:  # noqa: A002 - typer's keyword
    return typer.Option(*names, help=help, show_default=_preset_default(names[0]), rich_help_panel=panel)


def command(  # size: Typer declares one parameter per flag
    ctx: typer.Context,
    data: Annotated[
        str | None,
        _opt(
            "--data", panel=DATA,
            help="Dataset: sprites | shapes (built-in, offline) | cifar10 | cifar100 | stl10 | celeba | fashion-mnist | "
            "folder:PATH | npz:PATH (default: the preset's).",
        ),
    ] = None,
    genotype: Annotated[str | None, _opt("--genotype", panel=MODEL, help="genotype.json or a built-in name.")] = None,
    data_root: Annotated[str | None, _opt("--data-root", panel=DATA, help="Where torchvision datasets live.")] = None,
    resolution: Annotated[int | None, _opt("--resolution", panel=DATA, help="Image size in px.")] = None,
    width: Annotated[int | None, _opt("--width", panel=MODEL, help="Generator channel width.")] = None,
    d_width: Annotated[int | None, _opt("--d-width", panel=MODEL, help="Discriminator channel width.")] = None,
    latent_dim: Annotated[int | None, _opt("--latent-dim", panel=MODEL, help="Latent size.")] = None,
    activation: Annotated[
        str | None, _opt("--activation", panel=MODEL, help="pmish | relu | silu | mish | swish.")
    ] = None,
    d_norm: Annotated[str | None, _opt("--d-norm", panel=MODEL, help="sn | bssn.")] = None,
    bssn_scale: Annotated[float | None, _opt("--bssn-scale", panel=MODEL, help="BSSN scale c.")] = None,
    d_out_dim: Annotated[int | None, _opt("--d-out-dim", panel=MODEL, help="D output size (16 for MMD).")] = None,
    loss: Annotated[str | None, _opt("--loss", panel=LOSS, help="mmd | hinge.")] = None,
    mmd_modified_weight: Annotated[
        float | None, _opt("--mmd-modified-weight", panel=LOSS, help="λ_m (0: plain).")
    ] = None,
    bound_lower: Annotated[float | None, _opt("--bound-lower", panel=LOSS, help="b_l.")] = None,
    bound_upper: Annotated[float | None, _opt("--bound-upper", panel=LOSS, help="Initial b_u.")] = None,
    bound_schedule: Annotated[
        str | None, _opt("--bound-schedule", panel=LOSS, help="saturate | linear | saturate-linear | fixed.")
    ] = None,
    bound_patience: Annotated[int | None, _opt("--bound-patience", panel=LOSS, help="Evaluations without gain.")] = None,
    bound_cap: Annotated[float | None, _opt("--bound-cap", panel=LOSS, help="Largest b_u.")] = None,
    bound_factor: Annotated[float | None, _opt("--bound-factor", panel=LOSS, help="saturate: b_u *= factor.")] = None,
    bound_increment: Annotated[
        float | None, _opt("--bound-increment", panel=LOSS, help="saturate-linear: b_u += increment.")
    ] = None,
    batch_size: Annotated[
        int | None, _opt("--batch-size", panel=OPTIM, help="Global batch (split over processes).")
    ] = None,
    lr_g: Annotated[float | None, _opt("--lr-g", panel=OPTIM, help="Adam learning rate of G.")] = None,
    lr_d: Annotated[float | None, _opt("--lr-d", panel=OPTIM, help="Adam learning rate of D.")] = None,
    beta1: Annotated[float | None, _opt("--beta1", panel=OPTIM, help="Adam β1.")] = None,
    beta2: Annotated[float | None, _opt("--beta2", panel=OPTIM, help="Adam β2.")] = None,
    n_critic: Annotated[int | None, _opt("--n-critic", panel=OPTIM, help="D steps per G step.")] = None,
    lr_decay_start: Annotated[
        float | None,
        _opt("--lr-decay-start", panel=OPTIM,
             help="From this fraction of the run both learning rates fall linearly to 0, e.g. --lr-decay-start 0.5 "
                  "(1: constant, the paper's recipe)."),
    ] = None,
    ema_decay: Annotated[float | None, _opt("--ema-decay", panel=OPTIM, help="EMA decay of G.")] = None,
    ema_warmup: Annotated[
        bool | None, _opt("--ema-warmup/--no-ema-warmup", panel=OPTIM, help="EMA decay min(d, (1+t)/(10+t)) early on.")
    ] = None,
    steps: Annotated[int | None, _opt("--steps", panel=SCHEDULE, help="G steps in total.")] = None,
    epochs: Annotated[float | None, _opt("--epochs", panel=SCHEDULE, help="Epochs in total (instead of --steps).")] = None,
    eval_every: Annotated[
        int | None, _opt("--eval-every", panel=SCHEDULE, help="Proxy evaluation every N steps (0: off).")
    ] = None,
    eval_samples: Annotated[int | None, _opt("--eval-samples", panel=SCHEDULE, help="Samples of the proxy metric.")] = None,
    eval_extractor: Annotated[
        str | None, _opt("--eval-extractor", panel=SCHEDULE, help="auto | inception-v3-compat | randconv.")
    ] = None,
    metric: Annotated[
        str | None,
        _opt("--metric", panel=SCHEDULE,
             help="What drives the bound schedule and best snapshot: proxy | fidN | kidN, e.g. fid10k_train."),
    ] = None,
    inception_weights: Annotated[
        str | None, _opt("--inception-weights", panel=SCHEDULE,
                         help="FID Inception weights file (offline; else GANCTL_INCEPTION_WEIGHTS).")
    ] = None,
    log_every: Annotated[int | None, _opt("--log-every", panel=SCHEDULE, help="Steps per status line.")] = None,
    checkpoint_every: Annotated[int | None, _opt("--checkpoint-every", panel=SCHEDULE, help="Steps per checkpoint.")] = None,
    sample_every: Annotated[int | None, _opt("--sample-every", panel=SCHEDULE, help="Steps per sample grid.")] = None,
    precision: Annotated[str | None, _opt("--precision", panel=SPEED, help="auto | fp32 | bf16 (auto: bf16 on GPU, fp32 on CPU).")] = None,
    d_forward: Annotated[
        str | None, _opt("--d-forward", panel=SPEED, help="joint (one D call on real+fake) | separate (as the paper's code).")
    ] = None,
    compile: Annotated[bool | None, _opt("--compile/--no-compile", panel=SPEED, help="torch.compile G and D (default: on with CUDA).")] = None,  # noqa: A002
    compile_mode: Annotated[
        str | None,
        _opt("--compile-mode", panel=SPEED, help="default | max-autotune-no-cudagraphs | reduce-overhead (CUDA graphs)."),
    ] = None,
    channels_last: Annotated[bool | None, _opt("--channels-last/--no-channels-last", panel=SPEED, help="NHWC.")] = None,
    deterministic: Annotated[bool | None, _opt("--deterministic", panel=SPEED, help="Bit-reproducible (slower).")] = None,
    g_density: Annotated[
        float | None, _opt("--g-density", panel=MODEL, help="Sparse G: fraction of weights kept.")
    ] = None,
    d_density: Annotated[
        float | None, _opt("--d-density", panel=MODEL, help="Sparse D: fraction of weights kept.")
    ] = None,
    sparse_every: Annotated[int | None, _opt("--sparse-every", panel=MODEL, help="Prune/regrow every ΔT steps.")] = None,
    sparse_drop: Annotated[float | None, _opt("--sparse-drop", panel=MODEL, help="Initial drop fraction.")] = None,
    sparse_d_regrow: Annotated[str | None, _opt("--sparse-d-regrow", panel=MODEL, help="static | random.")] = None,
    teacher_d: Annotated[
        str | None, _opt("--teacher-d", panel=LOSS, help="DGL teacher: discriminator.safetensors or a train checkpoint.")
    ] = None,
    dgl_weight: Annotated[float | None, _opt("--dgl-weight", panel=LOSS, help="DGL α (teacher term weight).")] = None,
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda | cuda:N. auto picks the GPU if present.",
                                        rich_help_panel=SPEED, show_default=True)] = "auto",
    out: Annotated[
        Path | None, _opt("--out", panel=OUTPUT, help="Run folder to create (or to continue with --resume).")
    ] = None,
    preset: Annotated[
        str | None,
        _opt(
            "--preset", panel=OUTPUT,
            help="cifar10-large | cifar10-small | stl10: the paper's code's settings (D called separately on "
            "real and fake, fixed EMA 0.999 from step 1, no flips). cifar10-large-fast | cifar10-small-fast | "
            "stl10-fast: the same recipe with ganctl's own choices (one D call on real+fake: 2 "
            "spectral-norm power iterations per step instead of 4; EMA warm-up so short runs export a "
            "trained G; horizontal flips). Also celeba64, tiny (a CPU demo). Without it: cifar10-large, "
            "the paper's 20 M-parameter, 500-epoch recipe.",
        ),
    ] = None,
    resume: Annotated[Path | None, _opt("--resume", panel=OUTPUT, help="Continue the run in this folder exactly.")] = None,
    allow_change: Annotated[
        list[str] | None,
        _opt("--allow-change", panel=OUTPUT, help="Config key a --resume may change (repeatable), e.g. steps."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing run folder.", rich_help_panel=OUTPUT)
                     ] = False,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Master seed; per-purpose streams derive from it.",
                                 show_default=False, rich_help_panel=OUTPUT, callback=check_seed_flag)
    ] = None,
    config: Annotated[Path | None, ConfigOpt] = None,
    print_config: Annotated[bool, PrintConfigOpt] = False,
    log: Annotated[str, LogOpt] = "jsonl",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No header, progress or summary (logs still written).",
                                        rich_help_panel=OUTPUT)] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show tracebacks and debug logging.",
                                          rich_help_panel=OUTPUT)] = False,
    json: Annotated[bool, typer.Option("--json", help="Print a machine-readable JSON result as the last line.",
                                       rich_help_panel=OUTPUT)] = False,
) -> None:
    """Train G and D; write the EMA generator, checkpoint, stats, sample grids and curves to --out.

    Example (a CPU demo in seconds per step, then continue it for longer):

        ganctl train --preset tiny --data shapes --out runs/tiny --steps 40 --device cpu
        ganctl train --resume runs/tiny --steps 80 --allow-change steps

    The paper's recipe on CIFAR-10: ganctl train --preset cifar10-large --out runs/large.
    Two-stage DGL: train, then --teacher-d BIG/discriminator.safetensors --dgl-weight 0.1.
    Multi-GPU: torchrun --nproc-per-node 4 -m ganctl train ... (--batch-size is the global batch).
    """
    overrides = {
        k: v
        for k, v in locals().items()
        if k not in {"ctx", "preset", "resume", "allow_change", "force", "quiet", "verbose", "json", "config",
                     "print_config", "log"}
    }
    given = typed_flags(ctx)
    g = Globals(device=device, seed=seed or 0, quiet=quiet, verbose=verbose, json=json)

    def body() -> dict[str, Any] | None:
        from ganctl.train.loop import train  # lazy: loads torch; --help and flag errors stay fast

        flags = {k: (str(v) if isinstance(v, Path) else v) for k, v in overrides.items()}
        known = {f.name for f in dataclasses.fields(TrainConfig)}
        from_file = read_config_file(config, known, "train") if config is not None else {}
        values = layered({k: v for k, v in from_file.items() if k != "preset"}, flags, given,
                         exclusive=(("steps", "epochs"), ("eval_every", "eval_every_epochs")))
        chosen = preset or from_file.get("preset")
        cfg = from_flags(values, preset=chosen, resume=None if resume is None else str(resume),
                         allow_change=allow_change or [], preset_given=preset is not None or config is not None,
                         need_out=not print_config)
        if print_config:
            print_resolved(cfg.to_dict())
            return None
        check_log_choice(log)
        started = time.monotonic()
        if not g.console.quiet:
            how = "" if chosen or resume is not None else " (the default; --preset tiny for a CPU demo)"
            header(g.console, "train", [f"preset {cfg.preset}{how}", *train_header_parts(cfg)])
        sink = None
        if log == "tensorboard" and is_rank_zero():
            sink = TensorBoardSink(cfg.out, "train", resume=resume is not None)
        try:
            result = train(cfg, resume=resume is not None, force=force, hooks=_hooks(g, sink))
        finally:
            if sink is not None:
                sink.close()
        if not g.console.quiet:
            summary(g.console, Path(cfg.out), started, best_row(Path(cfg.out), "metric", "metric_name"))
        return result

    run(g, body)


def _hooks(g: Globals, sink: Any = None) -> Any:
    """Rich progress bar and one status line per tick, on rank 0 unless --quiet."""
    from ganctl.train.loop import Hooks  # lazy: loads torch; --help and flag errors stay fast

    console = g.console
    if console.quiet:
        return Hooks(progress=(lambda step, total: sink.poll()) if sink is not None else None)
    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    state: dict[str, Any] = {}

    def on_step(step: int, total: int) -> None:
        if "task" not in state:
            progress.start()
            state["task"] = progress.add_task("train", total=total, completed=step - 1)
        progress.update(state["task"], completed=step)
        if sink is not None:
            sink.poll()
        if step == total:
            progress.stop()

    return Hooks(echo=lambda line: console.print(line, highlight=False), progress=on_step)
