"""`ganctl evaluate`: metrics with their protocol, and cost figures, for one or more generator artifacts."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer

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


def command(
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

        ganctl evaluate --data cifar10 --real-only
    """
    g = Globals(device=device, seed=seed, quiet=quiet, verbose=verbose, json=json_out)

    def body() -> dict:
        from ganctl.cli.common import load_cli_data
        from ganctl.errors import RunDirError, UsageError

        # lazy: loads torch; --help and flag errors stay fast
        from ganctl.evaluate.api import evaluate_artifacts, evaluate_reference
        from ganctl.evaluate.protocol import parse_metrics  # lazy: loads torch; --help and flag errors stay fast
        from ganctl.io.atomic import atomic_write_json
        from ganctl.io.rundir import lock_folder
        from ganctl.models.artifact import load_generator  # lazy: loads torch; --help and flag errors stay fast
        from ganctl.models.limits import check_sizes  # lazy: loads torch; --help and flag errors stay fast
        from ganctl.runtime import (  # lazy: loads torch; --help and flag errors stay fast
            resolve_device,
            resolve_precision,
        )

        started = time.monotonic()
        weights = inception_weights or os.environ.get("GANCTL_INCEPTION_WEIGHTS") or None
        dev = resolve_device(device)
        log = (lambda msg: g.console.log(msg)) if not g.quiet else None
        if cost and no_cost:
            raise UsageError("--cost and --no-cost contradict each other; pick one")
        if not real_only:  # typos fail here, before any artifact, dataset or --out is touched
            parse_metrics([m for m in metrics.split(",") if m.strip()], num_samples)
            resolve_precision(precision, dev)
        if real_only:
            if artifacts:
                raise UsageError("--real-only takes no artifacts")
            if data is None:
                raise UsageError("--real-only needs --data")
            d = load_cli_data(data, data_root, resolution)
            with progress_bars(g) as bars:
                rec = evaluate_reference(
                    d,
                    extractor=extractor,
                    inception_weights=weights,
                    device=dev,
                    batch_size=batch_size,
                    num_reference=num_reference,
                    log=log,
                    progress=bars,
                )
            g.console.print(rec)
            return rec
        if not artifacts:
            raise UsageError("give at least one generator artifact (or --real-only)")
        if seeds <= 0:
            raise UsageError(f"--seeds must be positive, got {seeds}")
        check_sizes({"seeds": seeds, "batch_size": batch_size, "num_samples": num_samples,
                     "num_reference": num_reference})
        target = out / "metrics.json"
        _check_target(target, force)
        loaded = [(p, *load_generator(p, dev)) for p in artifacts]
        res = {int(G.resolution) for _, G, _ in loaded}
        if len(res) > 1:
            raise UsageError(f"artifacts have different resolutions {sorted(res)}; evaluate them separately")
        model_res = res.pop()
        if resolution is not None and resolution != model_res:
            raise UsageError(f"--resolution {resolution} differs from the artifacts' {model_res} px")
        data_name = resolve_data(data, [info for _, _, info in loaded], g)
        d = load_cli_data(data_name, data_root, model_res)
        if data is not None:
            warn_data_mismatch(d, [(p, info) for p, _, info in loaded], g)
        if out.exists() and not out.is_dir():
            raise RunDirError("--out exists and is not a folder", out)
        header(g.console, "evaluate", [f"{len(loaded)} artifact(s), {model_res} px", f"data {d.name} ({len(d)} images)",
                                       f"device {dev}", f"generator {precision}", f"out {out}"])
        lock = lock_folder(out)  # a second evaluate into this --out is refused, not silently lost
        try:
            _check_target(target, force)  # again, now that no one else can write here
            with progress_bars(g) as bars:
                result = evaluate_artifacts(
                    [(name, G, info) for name, (_, G, info) in zip(short_names(artifacts), loaded, strict=True)],
                    d,
                    [m for m in metrics.split(",") if m.strip()],
                    num_samples,
                    [seed + i for i in range(seeds)],
                    extractor=extractor,
                    inception_weights=weights,
                    device=dev,
                    batch_size=batch_size,
                    precision=precision,
                    num_reference=num_reference,
                    cost="none" if no_cost else "full" if cost else "quick",
                    log=log,
                    progress=bars,
                )
            result["data"] = {"name": d.name, "fingerprint": d.fingerprint, "count": len(d), "resolution": d.resolution}
            for (p, _, info), row in zip(loaded, result["artifacts"], strict=True):
                row["path"] = str(p)
                row["params"] = info.num_params
                row["nonzero_params"] = info.nonzero_params
            atomic_write_json(target, result)
        finally:
            lock.close()
        if not g.quiet:
            g.console.print(table(result))
            g.console.print(f"done in {duration(time.monotonic() - started)}  ·  wrote {target}", highlight=False)
        return {
            "output": str(target),
            "metrics": {r["name"]: {k: metric_value(v) for k, v in r["metrics"].items()} for r in result["artifacts"]},
        }

    run(g, body)


def _check_target(target: Path, force: bool) -> None:
    from ganctl.errors import RunDirError

    if os.path.lexists(target):
        if not target.is_file() or target.is_symlink():
            raise RunDirError("metrics.json exists and is not a regular file; choose another --out", target)
        if not force:
            raise RunDirError("metrics.json exists; pass --force to overwrite or choose another --out", target)


def metric_value(entry: dict) -> Any:
    """The headline number of a metric entry: its mean, or for PR the precision/recall/F means."""
    if "mean" in entry:
        return entry["mean"]
    return {k: entry[k]["mean"] for k in ("precision", "recall", "f_score") if k in entry}


def resolve_data(data: str | None, infos: list, g: Globals) -> str:
    """--data, else the data the artifacts record (all must agree), else cifar10 with a note."""
    from ganctl.errors import UsageError

    if data is not None:
        return data
    recorded = {(i.provenance or {}).get("data") for i in infos} - {None}
    if len(recorded) > 1:
        raise UsageError(f"the artifacts were trained on different data ({', '.join(sorted(recorded))}); "
                         "pass --data to choose the reference")
    if recorded:
        return recorded.pop()
    g.console.print("note: the artifacts record no training data; using --data cifar10", highlight=False)
    return "cifar10"


def warn_data_mismatch(d: Any, loaded: list, g: Globals) -> None:
    """A reference other than the training data is allowed (transfer), but never silently."""
    for path, info in loaded:
        prov = info.provenance or {}
        name, fingerprint = prov.get("data"), prov.get("data_fingerprint")
        if name is not None and name != d.name:
            g.console.print(f"warning: {path} was trained on {name}, evaluating against {d.name}", highlight=False)
        elif fingerprint is not None and fingerprint != d.fingerprint:
            g.console.print(f"warning: {path} was trained on a different copy or subset of {d.name} "
                            "(data fingerprints differ)", highlight=False)


def _short_names(paths: list[Path]) -> list[str]:
    """The fewest trailing path parts that tell the artifacts apart (train/generator.safetensors)."""
    for depth in range(1, max(len(p.parts) for p in paths) + 1):
        names = ["/".join(p.parts[-depth:]) for p in paths]
        if len(set(names)) == len(names):
            return names
    return [str(p) for p in paths]


NAME_WIDTH = 16  # with three metrics and the cost columns, the table then fits 80 columns


def short_names(paths: list[Path]) -> list[str]:
    """Names for the table: fewest trailing parts that differ, without .safetensors or a shared /generator."""
    names = [n.removesuffix(".safetensors") for n in _short_names(paths)]
    if len(names) > 1 and all(n.endswith("/generator") for n in names):
        names = [n.removesuffix("/generator") for n in names]
    return [n if len(n) <= NAME_WIDTH else "…" + n[-(NAME_WIDTH - 1):] for n in names]


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
    from rich import box
    from rich.table import Table

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
    modes = {c.get("mode") for c in costs if c}
    if modes:
        t.caption = ("quick cost figures (a few batches; --cost for the full table)" if modes == {"quick"}
                     else f"throughput at batch {costs[0].get('throughput_batch_size', '?')}")
    return t
