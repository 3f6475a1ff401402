"""`ganctl search` — differentiable architecture search (AdversarialNAS-MMD or alphaGAN) → genotype.json."""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

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
    read_config_file,
    typed_flags,
)
from ganctl.cli.configfile import print_config as print_resolved
from ganctl.cli.runinfo import header, summary
from ganctl.logsink import TensorBoardSink, check_log_choice
from ganctl.recipe import DEFAULTS

# flags that are search settings (config.json keys), as opposed to run control
SETTINGS = ("data", "method", "preset", "steps", "budget", "gumbel", "loss", "arch_loss", "batch_size", "resolution",
            "width", "d_width", "n_critic", "lr_g", "lr_d", "beta1", "beta2", "bound_lower", "bound_upper",
            "mmd_modified_weight", "inner_steps", "outer_steps", "worst_steps", "max_images", "data_root",
            "precision", "compile", "device", "seed")


def _opt(*names: str, help: str, panel: str, show: bool = False) -> Any:  # noqa: A002 - typer's keyword
    return typer.Option(*names, help=help, show_default=show, rich_help_panel=panel)


def command(  # size: Typer declares one parameter per flag
    ctx: typer.Context,
    out: Annotated[Path | None, typer.Option("--out", help="Run folder; receives genotype.json, alphas, stats, plot.",
                                             rich_help_panel=OUTPUT, show_default=False)] = None,
    data: Annotated[str, _opt("--data", show=True, panel=DATA, help="sprites | shapes (built-in) | cifar10 | cifar100 | stl10 | celeba | fashion-mnist | folder:PATH | npz:PATH.")] = "shapes",
    method: Annotated[str, _opt("--method", show=True, panel=MODEL, help="adversarialnas | alphagan.")] = "adversarialnas",
    preset: Annotated[str, _opt("--preset", show=True, panel=OUTPUT, help="paper: the seed paper's search as its code runs it (batch 128 split in halves for the "
        "architecture and weight steps, n_critic 5, ~48.5k D iterations, PMish search G, hinge "
        "architecture loss, τ per epoch, 3 up ops, 4-down-cell D without stem; adversarialnas only) | "
        "cifar10: ganctl's default (AdversarialNAS's supernet and 10.4k-iteration schedule, ReLU, whole "
        "batch for both steps, MMD architecture loss consistent with the weights, all 4 up ops) | tiny (CPU).")
                      ] = "cifar10",
    steps: Annotated[int | None, _opt("--steps", panel=SCHEDULE, help="Search iterations (default: the preset's).")] = None,
    budget: Annotated[str | None, _opt("--budget", panel=SCHEDULE, help="Wall-clock limit, e.g. 90s, 30m, 2h; then derive.")
                      ] = None,
    gumbel: Annotated[bool | None, _opt("--gumbel/--softmax", panel=LOSS,
                                        help="Gumbel-softmax with τ 5→0.1, or plain softmax.")] = None,
    loss: Annotated[str | None, _opt("--loss", panel=LOSS, help="Weight loss: mmd | hinge.")] = None,
    arch_loss: Annotated[str | None, _opt("--arch-loss", panel=LOSS, help="Architecture loss (default: --loss).")] = None,
    batch_size: Annotated[int | None, _opt("--batch-size", panel=OPTIM, help="Batch size.")] = None,
    resolution: Annotated[int | None, _opt("--resolution", panel=DATA, help="Image size in px (multiple of 8).")] = None,
    # --width/--d-width as in train; --width-g/--width-d are the older spellings, still accepted
    width: Annotated[int | None, _opt("--width", "--width-g", panel=MODEL, help="Generator supernet width.")] = None,
    d_width: Annotated[int | None, _opt("--d-width", "--width-d", panel=MODEL, help="Discriminator supernet width.")
                       ] = None,
    n_critic: Annotated[int | None, _opt("--n-critic", panel=OPTIM, help="D iterations per G step.")] = None,
    lr_g: Annotated[float | None, _opt("--lr-g", panel=OPTIM, help=f"G weight learning rate (default {DEFAULTS.lr_g:g}).")
                    ] = None,
    lr_d: Annotated[float | None, _opt("--lr-d", panel=OPTIM, help=f"D weight learning rate (default {DEFAULTS.lr_d:g}).")
                    ] = None,
    beta1: Annotated[float | None, _opt("--beta1", panel=OPTIM, help=f"Adam β1 of the weights (default {DEFAULTS.beta1:g}).")
                     ] = None,
    beta2: Annotated[float | None, _opt("--beta2", panel=OPTIM, help=f"Adam β2 of the weights (default {DEFAULTS.beta2:g}).")
                     ] = None,
    bound_lower: Annotated[float | None, _opt("--bound-lower", panel=LOSS,
                                              help=f"MMD b_l (default {DEFAULTS.bound_lower:g}).")] = None,
    bound_upper: Annotated[float | None, _opt("--bound-upper", panel=LOSS,
                                              help=f"MMD b_u, fixed during search (default {DEFAULTS.bound_upper:g}).")
                           ] = None,
    mmd_modified_weight: Annotated[float | None, _opt("--mmd-modified-weight", panel=LOSS,
                                                      help=f"λ_m (default {DEFAULTS.mmd_modified_weight:g}).")] = None,
    inner_steps: Annotated[int | None, _opt("--inner-steps", panel=OPTIM, help="alphagan: weight steps per outer round.")
                           ] = None,
    outer_steps: Annotated[int | None, _opt("--outer-steps", panel=OPTIM, help="alphagan: architecture steps per round.")
                           ] = None,
    worst_steps: Annotated[int | None, _opt("--worst-steps", panel=OPTIM, help="alphagan: steps of the worst-case copies.")
                           ] = None,
    max_images: Annotated[int | None, _opt("--max-images", panel=DATA, help="Use a seeded subset of the data.")] = None,
    data_root: Annotated[str | None, _opt("--data-root", panel=DATA, help="Where torchvision datasets live.")] = None,
    precision: Annotated[str | None, _opt("--precision", panel=SPEED, help="auto | fp32 | bf16 (auto: bf16 on GPU).")] = None,
    compile: Annotated[bool | None, _opt("--compile/--no-compile", panel=SPEED, help="torch.compile the supernets.")  # noqa: A002
                       ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the search in --out exactly.",
                                         rich_help_panel=OUTPUT)] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing run folder.", rich_help_panel=OUTPUT)
                     ] = False,
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
    """Search G (and D) cell architectures; the result trains as is with `ganctl train --genotype`.

    Example (CPU, about a minute), then train what it found:

        ganctl search --data shapes --preset tiny --method adversarialnas --out runs/search --device cpu
        ganctl train --genotype runs/search/genotype.json --data shapes --preset tiny --out runs/train

    On one GPU, stopped cleanly after 45 minutes: ganctl search --data cifar10 --preset cifar10
    --out runs/search --budget 45m. The seed paper's own search: --preset paper. Interrupted? Add
    --resume to continue exactly.
    """
    flags = {k: v for k, v in locals().items() if k in SETTINGS}
    given = typed_flags(ctx)
    g = Globals(device=device, seed=seed, quiet=quiet, verbose=verbose, json=json)

    def body() -> dict[str, Any] | None:
        from ganctl.runtime import progress_reporter  # lazy: loads torch; --help and flag errors stay fast
        from ganctl.search.config import SearchConfig, from_flags, parse_budget  # lazy: loads torch
        from ganctl.search.loop import run_search  # lazy: loads torch; --help and flag errors stay fast

        known = {f.name for f in dataclasses.fields(SearchConfig)}
        from_file = read_config_file(config, known, "search") if config is not None else {}
        typed = {k: v for k, v in flags.items() if k != "budget"}
        typed["out"] = None if out is None else str(out)
        if "budget" in given:
            typed["budget_s"] = parse_budget(budget)
            given.add("budget_s")
        cfg = from_flags(from_file, typed, given, method=method, preset=preset, resume=resume,
                         need_out=not print_config)
        if print_config:
            print_resolved(cfg.to_dict())
            return None
        check_log_choice(log)
        started = time.monotonic()
        sink = TensorBoardSink(cfg.out, "search", resume=resume) if log == "tensorboard" else None
        if not g.quiet:
            from ganctl.runtime import resolve_device  # lazy: loads torch; --help and flag errors stay fast

            header(g.console, "search", [f"{cfg.method}, preset {cfg.preset}", f"data {cfg.data} at {cfg.resolution} px",
                                         f"supernets G {cfg.width} / D {cfg.d_width} channels, {cfg.steps} steps",
                                         f"device {resolve_device(cfg.device)}", f"precision {cfg.precision}",
                                         f"out {cfg.out}"])
        columns = (TextColumn("search"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   TextColumn("{task.fields[info]}"))
        with Progress(*columns, console=g.console, transient=True) as bar:
            task = bar.add_task("search", total=cfg.steps, info="")

            def progress(done: int, total: int, row: dict[str, Any]) -> None:
                info = " ".join(f"{k}={v:.3g}" for k, v in row.items()
                                if k in ("tau", "loss_d", "loss_g", "duality_gap"))
                bar.update(task, completed=done, total=total, info=info)
                if sink is not None:
                    sink.poll()

            decode_tasks: dict[str, Any] = {}

            def report(stage: str, done: int, total: int) -> None:  # data decoding joins this bar
                if stage not in decode_tasks:
                    decode_tasks[stage] = bar.add_task(stage, total=total, info=stage)
                bar.update(decode_tasks[stage], completed=done, total=total)

            try:
                with progress_reporter(report):
                    result = run_search(cfg, resume=resume, force=force, progress=progress)
            finally:
                if sink is not None:
                    sink.close()
        if not g.quiet:
            summary(g.console, Path(cfg.out), started, None)
        return result.to_dict()

    run(g, body)
