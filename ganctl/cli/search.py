"""`ganctl search` — differentiable architecture search (AdversarialNAS-MMD or alphaGAN) → genotype.json."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ganctl.cli.common import DeviceOpt, Globals, JsonOpt, QuietOpt, SeedOpt, VerboseOpt, run


def _opt(*names: str, help: str) -> Any:  # noqa: A002 - typer's keyword
    return typer.Option(*names, help=help, show_default=False)


def command(
    out: Annotated[Path, typer.Option("--out", help="Run folder; receives genotype.json, alphas, stats, plot.")],
    data: Annotated[str, _opt("--data", help="cifar10, stl10, celeba, shapes, folder:PATH, npz:PATH.")] = "shapes",
    method: Annotated[str, _opt("--method", help="adversarialnas | alphagan.")] = "adversarialnas",
    preset: Annotated[str, _opt(
        "--preset",
        help="paper: the seed paper's search as its code runs it (batch 128 split in halves for the "
        "architecture and weight steps, n_critic 5, ~48.5k D iterations, PMish search G, hinge "
        "architecture loss, τ per epoch, 3 up ops, 4-down-cell D without stem; adversarialnas only) | "
        "cifar10: ganctl's default (AdversarialNAS's supernet and 10.4k-iteration schedule, ReLU, whole "
        "batch for both steps, MMD architecture loss consistent with the weights, all 4 up ops) | tiny (CPU).")
                      ] = "cifar10",
    steps: Annotated[int | None, _opt("--steps", help="Search iterations (default: the preset's).")] = None,
    budget: Annotated[str | None, _opt("--budget", help="Wall-clock limit, e.g. 90s, 30m, 2h; then derive.")
                      ] = None,
    gumbel: Annotated[bool | None, _opt("--gumbel/--softmax",
                                        help="Gumbel-softmax with τ 5→0.1, or plain softmax.")] = None,
    loss: Annotated[str | None, _opt("--loss", help="Weight loss: mmd | hinge.")] = None,
    arch_loss: Annotated[str | None, _opt("--arch-loss", help="Architecture loss (default: --loss).")] = None,
    batch_size: Annotated[int | None, _opt("--batch-size", help="Batch size.")] = None,
    resolution: Annotated[int | None, _opt("--resolution", help="Image size in px (multiple of 8).")] = None,
    width_g: Annotated[int | None, _opt("--width-g", help="Generator supernet width.")] = None,
    width_d: Annotated[int | None, _opt("--width-d", help="Discriminator supernet width.")] = None,
    n_critic: Annotated[int | None, _opt("--n-critic", help="D iterations per G step.")] = None,
    inner_steps: Annotated[int | None, _opt("--inner-steps", help="alphagan: weight steps per outer round.")
                           ] = None,
    outer_steps: Annotated[int | None, _opt("--outer-steps", help="alphagan: architecture steps per round.")
                           ] = None,
    worst_steps: Annotated[int | None, _opt("--worst-steps", help="alphagan: steps of the worst-case copies.")
                           ] = None,
    max_images: Annotated[int | None, _opt("--max-images", help="Use a seeded subset of the data.")] = None,
    data_root: Annotated[str | None, _opt("--data-root", help="Where torchvision datasets live.")] = None,
    precision: Annotated[str | None, _opt("--precision", help="auto | fp32 | bf16 (auto: bf16 on GPU).")] = None,
    compile: Annotated[bool | None, _opt("--compile/--no-compile", help="torch.compile the supernets.")  # noqa: A002
                       ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the search in --out exactly.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing run folder.")] = False,
    device: DeviceOpt = "auto",
    seed: SeedOpt = 0,
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
    g = Globals(device=device, seed=seed, quiet=quiet, verbose=verbose, json=json)

    def body() -> dict[str, Any]:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        from ganctl.search.config import make_config, parse_budget
        from ganctl.search.loop import run_search

        cfg = make_config(
            method, preset, out=str(out), data=data, steps=steps, budget_s=parse_budget(budget), gumbel=gumbel,
            loss=loss, arch_loss=arch_loss, batch_size=batch_size, resolution=resolution, width_g=width_g,
            width_d=width_d, n_critic=n_critic, inner_steps=inner_steps, outer_steps=outer_steps,
            worst_steps=worst_steps, max_images=max_images, data_root=data_root, precision=precision,
            compile=compile, device=device, seed=seed)
        columns = (TextColumn("search"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   TextColumn("{task.fields[info]}"))
        with Progress(*columns, console=g.console, transient=True) as bar:
            task = bar.add_task("search", total=cfg.steps, info="")

            def progress(done: int, total: int, row: dict[str, Any]) -> None:
                info = " ".join(f"{k}={v:.3g}" for k, v in row.items()
                                if k in ("tau", "loss_d", "loss_g", "duality_gap"))
                bar.update(task, completed=done, total=total, info=info)

            result = run_search(cfg, resume=resume, force=force, progress=progress)
        return result.to_dict()

    run(g, body)
