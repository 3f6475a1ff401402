"""`ganctl train` — train a genotype-built GAN with the MMD recipe; exact resume, DDP, sparse, DGL."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ganctl.cli.common import DeviceOpt, Globals, JsonOpt, QuietOpt, VerboseOpt, run


def _opt(*names: str, help: str) -> Any:  # noqa: A002 - typer's keyword
    return typer.Option(*names, help=help, show_default=False)


def command(
    data: Annotated[
        str | None,
        _opt(
            "--data",
            help="Dataset: cifar10, stl10, celeba, shapes, folder:PATH, npz:PATH (default: the preset's).",
        ),
    ] = None,
    genotype: Annotated[str | None, _opt("--genotype", help="genotype.json or a built-in name.")] = None,
    out: Annotated[
        Path | None, _opt("--out", help="Run folder to create (or to continue with --resume).")
    ] = None,
    preset: Annotated[
        str | None,
        _opt(
            "--preset",
            help="cifar10-large | cifar10-small | stl10 | celeba64 | tiny (default cifar10-large).",
        ),
    ] = None,
    resume: Annotated[Path | None, _opt("--resume", help="Continue the run in this folder exactly.")] = None,
    allow_change: Annotated[
        list[str] | None,
        _opt("--allow-change", help="Config key a --resume may change (repeatable), e.g. steps."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing run folder.")] = False,
    data_root: Annotated[str | None, _opt("--data-root", help="Where torchvision datasets live.")] = None,
    resolution: Annotated[int | None, _opt("--resolution", help="Image size in px.")] = None,
    width: Annotated[int | None, _opt("--width", help="Generator channel width.")] = None,
    d_width: Annotated[int | None, _opt("--d-width", help="Discriminator channel width.")] = None,
    latent_dim: Annotated[int | None, _opt("--latent-dim", help="Latent size.")] = None,
    activation: Annotated[
        str | None, _opt("--activation", help="pmish | relu | silu | mish | swish.")
    ] = None,
    d_norm: Annotated[str | None, _opt("--d-norm", help="sn | bssn.")] = None,
    bssn_scale: Annotated[float | None, _opt("--bssn-scale", help="BSSN scale c.")] = None,
    d_out_dim: Annotated[int | None, _opt("--d-out-dim", help="D output size (16 for MMD).")] = None,
    batch_size: Annotated[
        int | None, _opt("--batch-size", help="Global batch (split over processes).")
    ] = None,
    lr_g: Annotated[float | None, _opt("--lr-g", help="Adam learning rate of G.")] = None,
    lr_d: Annotated[float | None, _opt("--lr-d", help="Adam learning rate of D.")] = None,
    beta1: Annotated[float | None, _opt("--beta1", help="Adam β1.")] = None,
    beta2: Annotated[float | None, _opt("--beta2", help="Adam β2.")] = None,
    n_critic: Annotated[int | None, _opt("--n-critic", help="D steps per G step.")] = None,
    ema_decay: Annotated[float | None, _opt("--ema-decay", help="EMA decay of G.")] = None,
    loss: Annotated[str | None, _opt("--loss", help="mmd | hinge.")] = None,
    mmd_modified_weight: Annotated[
        float | None, _opt("--mmd-modified-weight", help="λ_m (0: plain).")
    ] = None,
    bound_lower: Annotated[float | None, _opt("--bound-lower", help="b_l.")] = None,
    bound_upper: Annotated[float | None, _opt("--bound-upper", help="Initial b_u.")] = None,
    bound_schedule: Annotated[
        str | None, _opt("--bound-schedule", help="saturate | linear | saturate-linear | fixed.")
    ] = None,
    bound_patience: Annotated[int | None, _opt("--bound-patience", help="Evaluations without gain.")] = None,
    bound_cap: Annotated[float | None, _opt("--bound-cap", help="Largest b_u.")] = None,
    steps: Annotated[int | None, _opt("--steps", help="G steps in total.")] = None,
    epochs: Annotated[float | None, _opt("--epochs", help="Epochs in total (instead of --steps).")] = None,
    eval_every: Annotated[
        int | None, _opt("--eval-every", help="Proxy evaluation every N steps (0: off).")
    ] = None,
    eval_samples: Annotated[int | None, _opt("--eval-samples", help="Samples of the proxy metric.")] = None,
    eval_extractor: Annotated[
        str | None, _opt("--eval-extractor", help="auto | inception-v3-compat | randconv.")
    ] = None,
    metric: Annotated[
        str | None,
        _opt("--metric", help="What drives the bound schedule and best snapshot: proxy | fidN | kidN, e.g. fid10k_train."),
    ] = None,
    inception_weights: Annotated[
        str | None, _opt("--inception-weights", help="FID Inception weights file (offline; else the env var).")
    ] = None,
    log_every: Annotated[int | None, _opt("--log-every", help="Steps per status line.")] = None,
    checkpoint_every: Annotated[int | None, _opt("--checkpoint-every", help="Steps per checkpoint.")] = None,
    sample_every: Annotated[int | None, _opt("--sample-every", help="Steps per sample grid.")] = None,
    precision: Annotated[str | None, _opt("--precision", help="fp32 | bf16 (default: bf16 on GPU).")] = None,
    compile: Annotated[bool | None, _opt("--compile/--no-compile", help="torch.compile G and D.")] = None,  # noqa: A002
    channels_last: Annotated[bool | None, _opt("--channels-last/--no-channels-last", help="NHWC.")] = None,
    deterministic: Annotated[bool | None, _opt("--deterministic", help="Bit-reproducible (slower).")] = None,
    g_density: Annotated[
        float | None, _opt("--g-density", help="Sparse G: fraction of weights kept.")
    ] = None,
    d_density: Annotated[
        float | None, _opt("--d-density", help="Sparse D: fraction of weights kept.")
    ] = None,
    sparse_every: Annotated[int | None, _opt("--sparse-every", help="Prune/regrow every ΔT steps.")] = None,
    sparse_drop: Annotated[float | None, _opt("--sparse-drop", help="Initial drop fraction.")] = None,
    sparse_d_regrow: Annotated[str | None, _opt("--sparse-d-regrow", help="static | random.")] = None,
    teacher_d: Annotated[
        str | None, _opt("--teacher-d", help="DGL teacher: discriminator.safetensors or a train checkpoint.")
    ] = None,
    dgl_weight: Annotated[float | None, _opt("--dgl-weight", help="DGL α (default 0.1).")] = None,
    device: DeviceOpt = "auto",
    seed: Annotated[
        int | None, _opt("--seed", help="Master seed; per-purpose streams derive from it.")
    ] = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    json: JsonOpt = False,
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
        if k not in {"preset", "resume", "allow_change", "force", "quiet", "verbose", "json", "device"}
    }
    g = Globals(device=device, seed=seed or 0, quiet=quiet, verbose=verbose, json=json)

    def body() -> dict[str, Any]:
        from ganctl.errors import UsageError
        from ganctl.train.config import resolve_config, resume_config
        from ganctl.train.loop import train

        values = {k: (str(v) if isinstance(v, Path) else v) for k, v in overrides.items()}
        if device != "auto":
            values["device"] = device
        if resume is not None:
            if out is not None and Path(out) != Path(resume):
                raise UsageError("--resume DIR continues in DIR; drop --out (or give the same folder)")
            if preset is not None:
                raise UsageError("--preset cannot be combined with --resume (the saved config is used)")
            from ganctl.io.rundir import RunDir

            values["out"] = str(resume)
            cfg = resume_config(RunDir.load_config(resume), values, allow_change or [])
        else:
            if out is None:
                raise UsageError("--out DIR is required (or --resume DIR)")
            if allow_change:
                raise UsageError("--allow-change only applies with --resume")
            if values.get("precision") is None:
                from ganctl.device import resolve_device

                values["precision"] = "bf16" if resolve_device(device).type == "cuda" else "fp32"
            cfg = resolve_config(preset or "cifar10-large", values)
        return train(cfg, resume=resume is not None, force=force, hooks=_hooks(g))

    run(g, body)


def _hooks(g: Globals) -> Any:
    """Rich progress bar and one status line per tick, on rank 0 unless --quiet."""
    from ganctl.train.loop import Hooks

    console = g.console
    if console.quiet:
        return Hooks()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

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
        if step == total:
            progress.stop()

    return Hooks(echo=lambda line: console.print(line, highlight=False), progress=on_step)
