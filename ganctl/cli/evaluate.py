"""`ganctl evaluate`: metrics with their protocol, and cost figures, for one or more generator artifacts."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from ganctl.cli.common import (
    DataRootOpt,
    DeviceOpt,
    Globals,
    JsonOpt,
    QuietOpt,
    ResolutionOpt,
    SeedOpt,
    VerboseOpt,
    run,
)
from ganctl.cli.runinfo import duration, header, progress_bars
from ganctl.errors import UsageError


def command(  # size: Typer declares one parameter per flag
    artifacts: Annotated[
        list[Path] | None, typer.Argument(help="Generator artifacts (.safetensors) to compare.")
    ] = None,
    data: Annotated[
        str | None,
        typer.Option("--data", help="Reference data (as for train). Default: the data the artifacts were trained on."),
    ] = None,
    data_root: DataRootOpt = None,
    resolution: ResolutionOpt = None,
    metrics: Annotated[
        str, typer.Option("--metrics", help="Comma list: fid, kid, is, pr (optionally fid10k, kid50k_train...).")
    ] = "fid",
    num_samples: Annotated[
        int | None, typer.Option("--num-samples", help="Generated samples per metric (default 50000).")
    ] = None,
    num_reference: Annotated[
        int | None, typer.Option("--num-reference", help="Reference images (default: the whole set).")
    ] = None,
    seeds: Annotated[
        int, typer.Option("--seeds", help="Repeat with this many seeds (seed, seed+1, ...): mean ± std.")
    ] = 1,
    extractor: Annotated[
        str, typer.Option("--extractor", help="auto | inception-v3-compat | randconv (labelled proxy).")
    ] = "auto",
    inception_weights: Annotated[
        str | None,
        typer.Option(
            "--inception-weights",
            help="Offline FID Inception weights file (else GANCTL_INCEPTION_WEIGHTS, else download).",
        ),
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", help="Generation/feature batch size (results do not depend on it).")
    ] = 250,
    precision: Annotated[
        str,
        typer.Option(
            "--precision", help="Generator precision: auto | fp32 | bf16 (auto: bf16 on GPU; features always fp32)."
        ),
    ] = "auto",
    real_only: Annotated[
        bool, typer.Option("--real-only", help="Only compute/inspect the cached reference statistics of --data.")
    ] = False,
    reference_points: Annotated[
        bool,
        typer.Option(
            "--reference-points",
            help="Also score held-out real images (the floor) and matched per-pixel noise (the ceiling) with the "
            "same protocol (FID/KID), so the generators' numbers read as a position between them.",
        ),
    ] = False,
    cost: Annotated[
        bool, typer.Option("--cost", help="Full cost table (20 latency, 10 throughput repeats); default: a quick one.")
    ] = False,
    no_cost: Annotated[bool, typer.Option("--no-cost", help="Skip parameters/FLOPs/latency/throughput.")] = False,
    out: Annotated[Path, typer.Option("--out", help="Folder for metrics.json.")] = Path("runs/evaluate"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing metrics.json in --out.")] = False,
    device: DeviceOpt = "auto",
    seed: SeedOpt = 0,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Score generator artifacts honestly: FID/KID/IS/PR with the full protocol, plus cost figures.

    Metric names carry their protocol (fid50k_train = 50k samples against the training set). Reference
    statistics are cached by data content. Without Inception weights (offline), pass --inception-weights
    or use --extractor randconv, whose numbers are labelled as a proxy and are not FID.

    Example:

        ganctl evaluate runs/train/generator.safetensors runs/small/generator.safetensors --data cifar10 --metrics fid,is --seeds 3

        ganctl evaluate runs/train/best_generator.safetensors --data sprites --metrics fid,kid --num-samples 1000 --reference-points

        ganctl evaluate --data cifar10 --real-only
    """
    g = Globals(device=device, seed=seed, quiet=quiet, verbose=verbose, json=json_out)

    def body() -> dict:
        from ganctl.evaluate.stage import EvaluateConfig, EvaluateHooks  # lazy: loads torch; --help stays fast
        from ganctl.evaluate.stage import run as evaluate  # lazy: loads torch; --help stays fast

        started = time.monotonic()
        if cost and no_cost:
            raise UsageError("--cost and --no-cost contradict each other; pick one")
        cfg = EvaluateConfig(
            artifacts=list(artifacts or []), data=data, data_root=data_root, resolution=resolution,
            metrics=[m for m in metrics.split(",") if m.strip()], num_samples=num_samples,
            num_reference=num_reference, seeds=seeds, extractor=extractor, inception_weights=inception_weights,
            batch_size=batch_size, precision=precision, real_only=real_only, reference_points=reference_points,
            cost="none" if no_cost else "full" if cost else "quick", out=out, force=force, device=device, seed=seed,
        )
        hooks = EvaluateHooks(
            log=(lambda msg: g.console.log(msg)) if not g.quiet else None,
            note=lambda msg: g.console.print(msg, highlight=False),
            warn=lambda msg: g.warning_console.print(msg, highlight=False),
            header=lambda parts: header(g.console, "evaluate", parts),
            progress=lambda: progress_bars(g),
        )
        done = evaluate(cfg, hooks)
        if real_only:
            g.console.print(done.result)
            return done.result
        if not g.quiet:
            g.console.print(table(done.result))
            g.console.print(f"done in {duration(time.monotonic() - started)}  ·  wrote {done.path}", highlight=False)
        reply: dict[str, Any] = {
            "output": str(done.path),
            "metrics": {r["name"]: {k: metric_value(v) for k, v in r["metrics"].items()}
                        for r in done.result["artifacts"]},
        }
        if "warnings" in done.result:
            reply["warnings"] = done.result["warnings"]
        if "reference_points" in done.result:
            reply["reference_points"] = {k: done.result["reference_points"][k] for k in ("floor", "ceiling")}
        return reply

    run(g, body)


def metric_value(entry: dict) -> Any:
    """The headline number of a metric entry: its mean, or for PR the precision/recall/F means."""
    if "mean" in entry:
        return entry["mean"]
    return {k: entry[k]["mean"] for k in ("precision", "recall", "f_score") if k in entry}


def _fmt_metric(e: dict) -> str:
    """Two short lines rather than one long one: mean over ±std, precision over recall."""
    if "mean" in e:
        return f"{e['mean']:.4g}\n±{e['std']:.2g}" if len(e.get("per_seed", [])) > 1 else f"{e['mean']:.4g}"
    if "precision" in e:
        return f"P {e['precision']['mean']:.2f}\nR {e['recall']['mean']:.2f}"
    return "-"


def _header(metric: str) -> str:
    """fid50k_train_randconv_proxy → 'fid50k\ntrain': the extractor is in the title, the rest stays."""
    parts = metric.split("_")
    return "\n".join(parts[:2])


def table(result: dict) -> Any:
    """Fits 80 columns: short names, compact numbers; the protocol goes in the title, not in the cells."""
    rows = result["artifacts"]
    names = list(dict.fromkeys(m for r in rows for m in r["metrics"]))
    proto = result["protocol"]
    ref = proto.get("reference") or {}
    proxy = " (PROXY, not FID)" if proto.get("extractor_is_proxy") else ""
    title = (f"{proto['extractor']}{proxy}; ref {ref.get('dataset', '?')} ({ref.get('count', '?')} img); "
             f"{len(proto['seeds'])} seed(s); {proto['device']} {proto['precision']}")
    sparse = any(r["nonzero_params"] != r["params"] for r in rows)
    costs = [r.get("cost") or {} for r in rows]
    t = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
    t.add_column("artifact", overflow="fold")
    for m in names:
        t.add_column(_header(m), justify="right", no_wrap=True)
    t.add_column("params", justify="right")
    if sparse:
        t.add_column("nonzero", justify="right")
    if any(costs):
        t.add_column("GFLOP", justify="right")
        t.add_column("ms@1", justify="right")
        t.add_column("img/s", justify="right")
    for r, c in zip(rows, costs, strict=True):
        cells = [r["name"], *(_fmt_metric(r["metrics"].get(m, {})) for m in names), f"{r['params'] / 1e6:.2f}M"]
        if sparse:
            cells.append(f"{r['nonzero_params'] / 1e6:.2f}M")
        if any(costs):
            tp = c.get("throughput_img_per_s")
            cells += [f"{c['flops_per_image'] / 1e9:.2f}" if "flops_per_image" in c else "-",
                      f"{c['latency_ms_batch1']:.1f}" if "latency_ms_batch1" in c else "-",
                      f"{tp:.0f}" if tp else "-"]
        t.add_row(*cells, end_section=len(names) > 0 and len(rows) > 1)
    points = result.get("reference_points")
    if points:
        for label, key in (("held-out real (floor)", "floor"), ("matched noise (ceiling)", "ceiling")):
            values = points[key]
            cells = [label, *(f"{values[m]:.4g}" if m in values else "-" for m in names), "-"]
            t.add_row(*cells, *(["-"] if sparse else []), *(["-"] * 3 if any(costs) else []), style="dim")
    modes = {c.get("mode") for c in costs if c}
    if modes:
        t.caption = ("quick cost figures (a few batches; --cost for the full table)" if modes == {"quick"}
                     else f"throughput at batch {costs[0].get('throughput_batch_size', '?')}")
    return t
