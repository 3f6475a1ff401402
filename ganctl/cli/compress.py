"""`ganctl compress` — shrink a trained generator with CP/Tucker-2 decomposition (ARD ranks), then fine-tune."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ganctl.cli.common import Globals, JsonOpt, QuietOpt, VerboseOpt, run
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
from ganctl.cli.runinfo import header, params, progress_bars, summary
from ganctl.compress.report import table_rows
from ganctl.errors import UsageError
from ganctl.logsink import TensorBoardSink, check_log_choice
from ganctl.recipe import DEFAULTS


def command(  # size: Typer declares one parameter per flag
    ctx: typer.Context,
    artifact: Annotated[Path | None, typer.Argument(help="The uncompressed generator.safetensors.",
                                                    show_default=False)] = None,
    out: Annotated[Path | None, typer.Option("--out", rich_help_panel=OUTPUT, show_default=False, help="Run folder for the compressed artifact and report.")] = None,
    rank: Annotated[
        str, typer.Option("--rank", rich_help_panel=MODEL, show_default=True, help="auto (ARD probes) | INT (every layer) | PLAN.json.")
    ] = "auto",
    method: Annotated[
        str, typer.Option("--method", rich_help_panel=MODEL, show_default=True, help="cp | tucker (linear and 1×1 layers use SVD).")
    ] = "cp",
    layers: Annotated[
        list[str] | None,
        typer.Option("--layers", rich_help_panel=MODEL, show_default=False, help="Glob over layer names, e.g. 'cells.*.c*.conv' (repeatable; default all)."
        ),
    ] = None,
    penalty: Annotated[float, typer.Option("--penalty", rich_help_panel=MODEL, show_default=True, help="ARD penalty factor PF (1/1 … 1/20).")] = 0.1,
    target_params: Annotated[
        float | None,
        typer.Option("--target-params", rich_help_panel=MODEL, show_default=False, help="With --rank auto: keep at most this fraction of G's parameters."
        ),
    ] = None,
    finetune_steps: Annotated[
        int, typer.Option("--finetune-steps", rich_help_panel=SCHEDULE, show_default=True, help="Fine-tuning steps (0 = none).")
    ] = 0,
    checkpoint_every: Annotated[
        int, typer.Option("--checkpoint-every", rich_help_panel=SCHEDULE, show_default=True, help="Fine-tuning checkpoint interval in steps (resume point).")
    ] = 200,
    freeze_factors: Annotated[
        bool,
        typer.Option("--freeze-factors", rich_help_panel=OPTIM, show_default=True, help="Keep the fitted factors fixed; fine-tune only the other layers."
        ),
    ] = False,
    teacher_d: Annotated[
        str | None,
        typer.Option("--teacher-d", rich_help_panel=LOSS, show_default=False,
            help="Uncompressed model's discriminator (.safetensors or train checkpoint): DGL term.",
        ),
    ] = None,
    distill_weight: Annotated[
        float,
        typer.Option("--distill-weight", rich_help_panel=LOSS, show_default=True,
                     help="Fine-tuning: weight of the L1 pull toward the uncompressed G's output on the same noise "
                          "(output distillation; e.g. --finetune-steps 200 --distill-weight 1)."),
    ] = 0.0,
    dgl_weight: Annotated[
        float | None,
        typer.Option("--dgl-weight", rich_help_panel=LOSS,
                     help=f"DGL teacher-term weight α (default: the parent's recipe, else {DEFAULTS.dgl_weight:g})."),
    ] = None,
    lr_g: Annotated[
        float | None,
        typer.Option("--lr-g", rich_help_panel=OPTIM,
                     help=f"Fine-tuning G learning rate (default: the parent's recorded lr_g, else {DEFAULTS.lr_g:g})."),
    ] = None,
    lr_d: Annotated[
        float | None,
        typer.Option("--lr-d", rich_help_panel=OPTIM,
                     help=f"Fine-tuning D learning rate (default: the parent's recorded lr_d, else {DEFAULTS.lr_d:g})."),
    ] = None,
    lr: Annotated[  # the earlier single rate: sets both --lr-g and --lr-d
        float | None, typer.Option("--lr", hidden=True, help="Both fine-tuning learning rates."),
    ] = None,
    bound_upper: Annotated[
        float | None,
        typer.Option("--bound-upper", rich_help_panel=LOSS,
                     help=f"Fine-tuning MMD b_u (default: the bound the parent reached, else {DEFAULTS.bound_upper:g})."),
    ] = None,
    bound_lower: Annotated[
        float | None,
        typer.Option("--bound-lower", rich_help_panel=LOSS,
                     help=f"Fine-tuning MMD b_l (default: the parent's recipe, else {DEFAULTS.bound_lower:g})."),
    ] = None,
    mmd_modified_weight: Annotated[
        float | None,
        typer.Option("--mmd-modified-weight", rich_help_panel=LOSS,
                     help=f"Fine-tuning λ_m (default: the parent's recipe, else {DEFAULTS.mmd_modified_weight:g})."),
    ] = None,
    precision: Annotated[
        str | None,
        typer.Option("--precision", rich_help_panel=SPEED, show_default=False,
                     help="auto | fp32 | bf16 for fine-tuning and the proxy (auto: bf16 on GPU)."),
    ] = None,
    data: Annotated[
        str | None,
        typer.Option("--data", rich_help_panel=DATA, show_default=False,
            help="Dataset for the quality proxy and fine-tuning (cifar10, shapes, folder:PATH, ...).",
        ),
    ] = None,
    data_root: Annotated[
        str | None, typer.Option("--data-root", rich_help_panel=DATA, show_default=False, help="Where torchvision datasets live.")
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", rich_help_panel=OPTIM, show_default=True, help="Fine-tuning batch size.")] = 64,
    probe_samples: Annotated[
        int, typer.Option("--probe-samples", rich_help_panel=MODEL, show_default=True, help="Samples per ARD quality probe (proxy FID).")
    ] = 1000,
    eval_extractor: Annotated[  # train's name for the proxy extractor; --extractor is the older spelling
        str,
        typer.Option("--eval-extractor", "--extractor", rich_help_panel=MODEL, show_default=True, help="Proxy feature extractor: auto | inception-v3-compat | randconv."),
    ] = "auto",
    fit_iters: Annotated[int, typer.Option("--fit-iters", rich_help_panel=MODEL, show_default=True, help="ALS iterations per decomposition.")] = 50,
    resume: Annotated[bool, typer.Option("--resume", rich_help_panel=OUTPUT, show_default=True, help="Continue an interrupted run in --out.")] = False,
    force: Annotated[bool, typer.Option("--force", rich_help_panel=OUTPUT, show_default=True, help="Overwrite an existing run folder.")] = False,
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda | cuda:N. auto picks the GPU if present.",
                                        rich_help_panel=SPEED, show_default=True)] = "auto",
    seed: Annotated[int, typer.Option("--seed", help="Master seed; per-purpose streams derive from it.",
                                      rich_help_panel=OUTPUT, show_default=True)] = 0,
    config: Annotated[Path | None, ConfigOpt] = None,
    print_config: Annotated[bool, PrintConfigOpt] = False,
    log: Annotated[str, LogOpt] = "jsonl",
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    json: JsonOpt = False,
) -> None:
    """Decompose a trained generator's layers into real factorised convolutions.

    Example: pick ranks by ARD so at most a third of the parameters remain, fine-tune 2000 steps
    with the teacher's discriminator, then evaluate:

        ganctl compress runs/train/generator.safetensors --out runs/small --rank auto \\
            --target-params 0.33 --data cifar10 --finetune-steps 2000 \\
            --teacher-d runs/train/discriminator.safetensors
    """
    flags = {k: (str(v) if isinstance(v, Path) else v) for k, v in locals().items()
             if k not in ("ctx", "config", "print_config", "quiet", "verbose", "json", "log")}
    flags["layers"] = list(layers or [])
    if precision is None:
        flags.pop("precision")  # the config's default (auto)
    given = typed_flags(ctx)
    g = Globals(device=device, seed=seed, quiet=quiet, verbose=verbose, json=json)

    def body() -> dict[str, Any] | None:
        # lazy: loads torch; --help and flag errors stay fast
        from ganctl.compress.stage import CompressConfig, Hooks, compress

        known = {f.name for f in dataclasses.fields(CompressConfig)}
        from_file = read_config_file(config, known, "compress") if config is not None else {}
        # CLI defaults < file < typed flags (resume/force are run control: only ever from the flags)
        values = {**flags, **layered(from_file, flags, given), "resume": resume, "force": force}
        for key in ("artifact", "out"):
            if not values.get(key) and not print_config:
                raise UsageError(f"give the {'ARTIFACT argument' if key == 'artifact' else '--out DIR'} "
                                 "(or set it in --config)")
            values[key] = values.get(key) or ""
        cfg = CompressConfig(**values)
        if print_config:
            print_resolved(dataclasses.asdict(cfg))
            return None
        check_log_choice(log)
        console = g.console
        started = time.monotonic()
        if not console.quiet:
            header(console, "compress", compress_header_parts(cfg))
        sink = TensorBoardSink(cfg.out, "compress", resume=cfg.resume) if log == "tensorboard" else None
        try:
            with progress_bars(g) as bars:

                def progress(what: str, done: int, total: int) -> None:
                    if bars is not None:
                        bars(what, done, total)
                    if sink is not None:
                        sink.poll()

                result = compress(cfg, Hooks(echo=console.print, progress=progress))
        finally:
            if sink is not None:
                sink.close()
        _print_table(console, result["report"])
        result.pop("report")
        if not console.quiet:
            summary(console, Path(cfg.out), started, None)
        return result

    run(g, body)


def _print_table(console: Any, report: dict[str, Any]) -> None:
    name = report.get("quality_name") or "proxy"
    table = Table(
        title=f"compressed: {report['params_before']:,} → {report['params_after']:,} parameters "
        f"({report['param_ratio']:.3f}×)"
    )
    for col in ("layer", "method", "rank", "params before", "params after", f"probe {name}"):
        table.add_column(col, justify="left" if col == "layer" else "right")
    for row in table_rows(report):
        table.add_row(*row)
    console.print(table)
    for key, label in (
        ("quality_before", "dense"),
        ("quality_decomposed", "decomposed"),
        ("quality_finetuned", "fine-tuned"),
    ):
        if report.get(key) is not None:
            console.print(f"{name} ({label}): {report[key]:.3f}")


def compress_header_parts(cfg: Any) -> list[str]:
    """Parent artifact size from its header (no model is built), then where the work happens."""
    from ganctl.io.artifact import read_artifact  # lazy: loads torch; --help and flag errors stay fast
    from ganctl.runtime import resolve_device  # lazy: loads torch; --help and flag errors stay fast

    info = read_artifact(cfg.artifact, expect_kind="generator", with_hash=False)
    return [f"{cfg.artifact} ({params(info.num_params)} parameters)", f"rank {cfg.rank}, {cfg.method}",
            f"data {cfg.data or 'none'}", f"device {resolve_device(cfg.device)}", f"out {cfg.out}"]
