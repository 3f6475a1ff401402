"""`ganctl evaluate`: metrics with their protocol, and cost figures, for one or more generator artifacts."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from ganctl.cli.common import (
    DataOpt,
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


def command(
    artifacts: Annotated[
        list[Path] | None, typer.Argument(help="Generator artifacts (.safetensors) to compare.")
    ] = None,
    data: DataOpt = "cifar10",
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
        str, typer.Option("--precision", help="Generator precision: fp32 | bf16 (features are always fp32).")
    ] = "fp32",
    real_only: Annotated[
        bool, typer.Option("--real-only", help="Only compute/inspect the cached reference statistics of --data.")
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
        from ganctl.device import resolve_device
        from ganctl.errors import RunDirError, UsageError
        from ganctl.evaluate.api import evaluate_reference
        from ganctl.io.artifact import load_generator
        from ganctl.io.atomic import atomic_write_json
        from ganctl.io.rundir import lock_folder
        from ganctl.models.limits import check_sizes

        weights = inception_weights or os.environ.get("GANCTL_INCEPTION_WEIGHTS") or None
        dev = resolve_device(device)
        log = (lambda msg: g.console.log(msg)) if not g.quiet else None
        if real_only:
            if artifacts:
                raise UsageError("--real-only takes no artifacts")
            d = load_cli_data(data, data_root, resolution)
            rec = evaluate_reference(
                d,
                extractor=extractor,
                inception_weights=weights,
                device=dev,
                batch_size=batch_size,
                num_reference=num_reference,
                log=log,
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
        d = load_cli_data(data, data_root, model_res)
        if out.exists() and not out.is_dir():
            raise RunDirError("--out exists and is not a folder", out)
        lock = lock_folder(out)  # a second evaluate into this --out is refused, not silently lost
        try:
            _check_target(target, force)  # again, now that no one else can write here
            result = _score(loaded, d, dev, weights, log)
            atomic_write_json(target, result)
        finally:
            lock.close()
        if not g.quiet:
            g.console.print(_table(result))
        return {
            "output": str(target),
            "metrics": {r["name"]: {k: v.get("mean") for k, v in r["metrics"].items()} for r in result["artifacts"]},
        }

    def _score(loaded: list, d: object, dev: object, weights: str | None, log: object) -> dict:
        from ganctl.evaluate.api import evaluate_artifacts

        result = evaluate_artifacts(
            [(name, G, info) for name, (_, G, info) in zip(_short_names(artifacts), loaded, strict=True)],
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
            cost=not no_cost,
            log=log,
        )
        result["data"] = {"name": d.name, "fingerprint": d.fingerprint, "count": len(d), "resolution": d.resolution}
        for (p, _, info), row in zip(loaded, result["artifacts"], strict=True):
            row["path"] = str(p)
            row["params"] = info.num_params
            row["nonzero_params"] = info.nonzero_params
        return result

    run(g, body)


def _check_target(target: Path, force: bool) -> None:
    from ganctl.errors import RunDirError

    if os.path.lexists(target):
        if not target.is_file() or target.is_symlink():
            raise RunDirError("metrics.json exists and is not a regular file; choose another --out", target)
        if not force:
            raise RunDirError("metrics.json exists; pass --force to overwrite or choose another --out", target)


def _short_names(paths: list[Path]) -> list[str]:
    """The fewest trailing path parts that tell the artifacts apart (train/generator.safetensors)."""
    for depth in range(1, max(len(p.parts) for p in paths) + 1):
        names = ["/".join(p.parts[-depth:]) for p in paths]
        if len(set(names)) == len(names):
            return names
    return [str(p) for p in paths]


def _table(result: dict):
    from rich.table import Table

    rows = result["artifacts"]
    names = list(dict.fromkeys(m for r in rows for m in r["metrics"]))
    proto = result["protocol"]
    t = Table(
        title=f"ganctl evaluate — extractor {proto['extractor']}{' (PROXY, not FID)' if proto.get('extractor_is_proxy') else ''}, "
        f"{proto['device']}, generator {proto['precision']}"
    )
    for col in ["artifact", "params", "nonzero", *names, "GFLOPs/img", "latency ms (b=1)", "img/s"]:
        t.add_column(col, justify="right" if col != "artifact" else "left")
    for r in rows:
        vals = []
        for m in names:
            e = r["metrics"].get(m, {})
            if "mean" in e:
                vals.append(
                    f"{e['mean']:.4g} ± {e['std']:.2g}" if len(e.get("per_seed", [])) > 1 else f"{e['mean']:.4g}"
                )
            elif "precision" in e:
                vals.append(f"P {e['precision']['mean']:.3f} / R {e['recall']['mean']:.3f}")
            else:
                vals.append("-")
        c = r.get("cost") or {}
        tp = c.get("throughput_img_per_s")
        t.add_row(
            r["name"],
            f"{r['params'] / 1e6:.3f} M",
            f"{r['nonzero_params'] / 1e6:.3f} M",
            *vals,
            f"{c['flops_per_image'] / 1e9:.3f}" if "flops_per_image" in c else "-",
            f"{c['latency_ms_batch1']:.2f}" if "latency_ms_batch1" in c else "-",
            f"{tp:.0f} @ {c.get('throughput_batch_size', '?')}" if tp else "-",
        )
    return t
