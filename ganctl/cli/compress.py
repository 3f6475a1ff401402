"""`ganctl compress` — shrink a trained generator with CP/Tucker-2 decomposition (ARD ranks), then fine-tune."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ganctl.cli.common import DeviceOpt, Globals, JsonOpt, QuietOpt, SeedOpt, VerboseOpt, run


def command(
    artifact: Annotated[Path, typer.Argument(help="The uncompressed generator.safetensors.")],
    out: Annotated[Path, typer.Option("--out", help="Run folder for the compressed artifact and report.")],
    rank: Annotated[
        str, typer.Option("--rank", help="auto (ARD probes) | INT (every layer) | PLAN.json.")
    ] = "auto",
    method: Annotated[
        str, typer.Option("--method", help="cp | tucker (linear and 1×1 layers use SVD).")
    ] = "cp",
    layers: Annotated[
        list[str] | None,
        typer.Option(
            "--layers", help="Glob over layer names, e.g. 'cells.*.c*.conv' (repeatable; default all)."
        ),
    ] = None,
    penalty: Annotated[float, typer.Option("--penalty", help="ARD penalty factor PF (1/1 … 1/20).")] = 0.1,
    target_params: Annotated[
        float | None,
        typer.Option(
            "--target-params", help="With --rank auto: keep at most this fraction of G's parameters."
        ),
    ] = None,
    finetune_steps: Annotated[
        int, typer.Option("--finetune-steps", help="Fine-tuning steps (0 = none).")
    ] = 0,
    checkpoint_every: Annotated[
        int, typer.Option("--checkpoint-every", help="Fine-tuning checkpoint interval in steps (resume point).")
    ] = 200,
    freeze_factors: Annotated[
        bool,
        typer.Option(
            "--freeze-factors", help="Keep the fitted factors fixed; fine-tune only the other layers."
        ),
    ] = False,
    teacher_d: Annotated[
        str | None,
        typer.Option(
            "--teacher-d",
            help="Uncompressed model's discriminator (.safetensors or train checkpoint): DGL term.",
        ),
    ] = None,
    dgl_weight: Annotated[
        float | None,
        typer.Option("--dgl-weight", help="DGL teacher-term weight α (default: the parent's recipe, else 0.1)."),
    ] = None,
    lr: Annotated[
        float | None,
        typer.Option("--lr", help="Fine-tuning learning rate (default: the parent's recorded lr, else 2e-4)."),
    ] = None,
    bound_upper: Annotated[
        float | None,
        typer.Option("--bound-upper", help="Fine-tuning MMD b_u (default: the bound the parent reached, else 4)."),
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            help="Dataset for the quality proxy and fine-tuning (cifar10, shapes, folder:PATH, ...).",
        ),
    ] = None,
    data_root: Annotated[
        str | None, typer.Option("--data-root", help="Where torchvision datasets live.")
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Fine-tuning batch size.")] = 64,
    probe_samples: Annotated[
        int, typer.Option("--probe-samples", help="Samples per ARD quality probe (proxy FID).")
    ] = 1000,
    extractor: Annotated[
        str,
        typer.Option("--extractor", help="Proxy feature extractor: auto | inception-v3-compat | randconv."),
    ] = "auto",
    fit_iters: Annotated[int, typer.Option("--fit-iters", help="ALS iterations per decomposition.")] = 50,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run in --out.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing run folder.")] = False,
    device: DeviceOpt = "auto",
    seed: SeedOpt = 0,
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
    g = Globals(device=device, seed=seed, quiet=quiet, verbose=verbose, json=json)

    def body() -> dict[str, Any]:
        from ganctl.compress.run import CompressConfig, Hooks, compress

        cfg = CompressConfig(
            artifact=str(artifact),
            out=str(out),
            rank=rank,
            method=method,
            layers=list(layers or []),
            penalty=penalty,
            target_params=target_params,
            finetune_steps=finetune_steps,
            checkpoint_every=checkpoint_every,
            freeze_factors=freeze_factors,
            teacher_d=teacher_d,
            dgl_weight=dgl_weight,
            lr=lr,
            b_u=bound_upper,
            data=data,
            data_root=data_root,
            batch_size=batch_size,
            probe_samples=probe_samples,
            extractor=extractor,
            fit_iters=fit_iters,
            device=device,
            seed=seed,
            resume=resume,
            force=force,
        )
        console = g.console
        hooks = Hooks(echo=console.print, progress=_progress(console))
        result = compress(cfg, hooks)
        _print_table(console, result["report"])
        result.pop("report")
        return result

    run(g, body)


def _progress(console: Any) -> Any:
    last: dict[str, int] = {}

    def show(what: str, done: int, total: int) -> None:
        step = max(1, total // 10)
        if done == total or done - last.get(what, 0) >= step:
            last[what] = done
            console.print(f"[dim]{what}: {done}/{total}[/dim]")

    return show


def _print_table(console: Any, report: dict[str, Any]) -> None:
    from rich.table import Table

    from ganctl.compress.report import table_rows

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
