"""A report people can look at: pictures and numbers from a search → train → compress → evaluate chain.

Usage: python -m ganctl.report OUT_DIR   (expects OUT_DIR/{search,train,compress,evaluate,sample}/ as
examples/pipeline.sh lays them out; missing stages are skipped, not faked).
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from torchvision.utils import make_grid

from ganctl.data import load_data
from ganctl.errors import GanctlError
from ganctl.evaluate.generate import generate_uint8
from ganctl.genotype import Genotype, load_genotype  # noqa: E402
from ganctl.io.artifact import read_artifact
from ganctl.io.atomic import atomic_target, atomic_write_text  # noqa: E402
from ganctl.io.rundir import read_jsonl  # noqa: E402
from ganctl.io.safeio import contents_of, read_json_object  # noqa: E402
from ganctl.models.artifact import load_generator
from ganctl.nn.activations import pmish_betas

# node positions of one AdversarialNAS generator cell, left to right; edges to the output bow outwards
_NODE_XY = {"in": (0.0, 0.5), "n0": (1.0, 0.9), "n1": (1.0, 0.1), "n2": (2.2, 0.5), "n3": (3.4, 0.5)}
_GEN_EDGE_NODES = {"up0": ("in", "n0"), "up1": ("in", "n1"), "c0": ("n0", "n2"), "c1": ("n1", "n2"),
                   "c2": ("n0", "n3"), "c3": ("n1", "n3"), "c4": ("n2", "n3")}
_EDGE_BOW = {"c2": -0.35, "c3": 0.35}


def _arc_midpoint(a: tuple[float, float], b: tuple[float, float], rad: float) -> tuple[float, float]:
    """Midpoint of matplotlib's arc3 quadratic Bézier (control point = midpoint + rad·(dy, −dx))."""
    (x0, y0), (x1, y1) = a, b
    dx, dy = x1 - x0, y1 - y0
    return (x0 + x1) / 2 + rad * dy / 2, (y0 + y1) / 2 - rad * dx / 2


def draw_generator_cells(genotype: Genotype, path: str | Path) -> Path:
    """Each generator cell as a small DAG with its ops on the edges ('none' edges are left out)."""
    cells = genotype.generator_cells
    fig, axes = plt.subplots(1, len(cells), figsize=(4.6 * len(cells), 3.0), squeeze=False)
    for i, (ax, cell) in enumerate(zip(axes[0], cells, strict=True)):
        for edge, (a, b) in _GEN_EDGE_NODES.items():
            op = cell.get(edge, "none")
            if op == "none":
                continue
            rad = _EDGE_BOW.get(edge, 0.0)
            ax.annotate("", xy=_NODE_XY[b], xytext=_NODE_XY[a],
                        arrowprops={"arrowstyle": "->", "color": "#555", "connectionstyle": f"arc3,rad={rad}",
                                    "shrinkA": 13, "shrinkB": 13})
            mx, my = _arc_midpoint(_NODE_XY[a], _NODE_XY[b], rad)
            ax.text(mx, my, op, fontsize=7.5, ha="center", va="center",
                    bbox={"boxstyle": "round,pad=0.2", "fc": "#fff8e1", "ec": "#d9b650", "lw": 0.6})
        for name, (x, y) in _NODE_XY.items():
            outer = name in ("in", "n3")
            ax.add_patch(plt.Circle((x, y), 0.12, color="#1f77b4" if outer else "#9ecae1", zorder=3))
            label = {"in": "in", "n3": "out"}.get(name, name[1])
            ax.text(x, y, label, ha="center", va="center", fontsize=8, color="white" if outer else "k", zorder=4)
        ax.set_xlim(-0.3, 3.7)
        ax.set_ylim(-0.35, 1.35)
        ax.set_aspect("equal")
        ax.axis("off")
        ax.set_title(f"generator cell {i} (×2 up)", fontsize=9)
    fig.tight_layout()
    return _save_fig(fig, path)


def plot_betas(betas: dict[str, float], path: str | Path) -> Path:
    """Learned PMish β per activation (β=1 is Mish; large β approaches a ReLU-like curve)."""
    names = list(betas)
    fig, ax = plt.subplots(figsize=(max(5.0, 0.32 * len(names) + 2), 3.4))
    ax.bar(range(len(names)), [betas[n] for n in names], color="#4c72b0")
    ax.axhline(1.0, color="#c44e52", lw=0.8, ls="--", label="β = 1 (Mish)")
    ax.set_xticks(range(len(names)), [_short(n) for n in names], rotation=70, fontsize=6.5, ha="right")
    ax.set_ylabel("learned β")
    ax.set_title("PMish β per layer")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _save_fig(fig, path)


def _short(name: str) -> str:
    return name.replace(".act", "").replace("cells.", "c")[-22:]


def _save_fig(fig: Any, path: str | Path) -> Path:
    path = Path(path)
    with atomic_target(path) as tmp:
        fig.savefig(tmp, dpi=110, format=path.suffix.lstrip(".") or "png")
    plt.close(fig)
    return path


def _rel(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def _latest(folder: Path, pattern: str) -> Path | None:
    found = sorted(folder.glob(pattern))
    return found[-1] if found else None


def write_report(root: str | Path) -> Path:
    """Assemble report.md from whatever stages ran under `root`; returns its path."""

    root = Path(root)
    lines = ["# ganctl run report", "", f"Run folder: `{root}`", ""]
    lines += _learning_section(root)
    search, train, compress = root / "search", root / "train", root / "compress"
    if (search / "genotype.json").exists():
        geno = load_genotype(search / "genotype.json")
        cell_png = draw_generator_cells(geno, root / "report" / "cells.png")
        lines += ["## Searched architecture", "", f"Genotype: `{_rel(search / 'genotype.json', root)}` "
                  f"(search space `{geno.search_space}`).", "", f"![generator cells]({_rel(cell_png, root)})", ""]
        for name in ("alphas.png",):
            if (search / name).exists():
                lines += [f"Architecture weights during the search: ![alphas]({_rel(search / name, root)})", ""]
    if (train / "generator.safetensors").exists():
        lines += ["## Training", ""]
        if (train / "curves.png").exists():
            lines += [f"![training curves]({_rel(train / 'curves.png', root)})", ""]
        grid = _latest(train / "samples", "*.png")
        if grid is not None:
            lines += [f"Fixed-noise samples at the last tick: ![samples]({_rel(grid, root)})", ""]
        G, info = load_generator(train / "generator.safetensors")
        betas = pmish_betas(G)
        if betas:
            beta_png = plot_betas(betas, root / "report" / "pmish_beta.png")
            lo, hi = min(betas.values()), max(betas.values())
            lines += [f"Learned PMish β ({len(betas)} activations, range {lo:.3f} – {hi:.3f}):", "",
                      f"![PMish beta]({_rel(beta_png, root)})", ""]
    if (compress / "ranks.json").exists():
        ranks = read_json_object(compress / "ranks.json", what="ranks.json")
        lines += ["## Compression", ""]
        summary = {k: v for k, v in ranks.items() if not isinstance(v, (list, dict))}
        if summary:
            lines += ["| field | value |", "|---|---|"] + [f"| {k} | {_fmt(v)} |" for k, v in summary.items()] + [""]
        if (compress / "size_vs_quality.png").exists():
            lines += [f"![rank vs quality]({_rel(compress / 'size_vs_quality.png', root)})", ""]
    metrics_file = root / "evaluate" / "metrics.json"
    if metrics_file.exists():
        lines += ["## Evaluation", "", f"Full protocol in `{_rel(metrics_file, root)}`.", ""]
        metrics = read_json_object(metrics_file, what="metrics.json")
        with contents_of(metrics_file):
            lines += _metrics_table(metrics)
    pictures = sorted((root / "sample").glob("*.png")) if (root / "sample").is_dir() else []
    if pictures:
        lines += ["## Samples", ""] + [f"`{p.name}`: ![{p.stem}]({_rel(p, root)})" for p in pictures] + [""]
    out = root / "report.md"
    atomic_write_text(out, "\n".join(lines) + "\n")
    return out


def _final_generator(root: Path) -> Path | None:
    for path in (root / "compress" / "generator.safetensors", root / "train" / "generator.safetensors"):
        if path.exists():
            return path
    return None


def draw_real_vs_generated(root: Path, path: Path, n: int = 64, seed: int = 0) -> Path | None:
    """Real training images and samples of the final generator, side by side at the same scale."""


    gen_path, config = _final_generator(root), root / "train" / "config.json"
    if gen_path is None or not config.exists():
        return None
    cfg = read_json_object(config, what="config.json")
    G, _ = load_generator(gen_path)
    with contents_of(config):
        data, data_root, data_seed = str(cfg["data"]), cfg.get("data_root"), int(cfg.get("seed", 0))
    real = load_data(data, data_root, int(G.resolution), seed=data_seed, max_images=n).images
    fake = generate_uint8(G, n, seed, batch_size=n, device="cpu")
    fig, axes = plt.subplots(1, 2, figsize=(8.4, 4.5))
    for ax, images, title in ((axes[0], real, f"real ({data})"),
                              (axes[1], fake, f"generated ({_rel(gen_path, root)})")):
        grid = make_grid(images, nrow=8, padding=1, pad_value=255)
        ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    return _save_fig(fig, path)


def quality_curve(root: Path) -> dict[str, Any] | None:
    """The in-loop metric of the training run: name, steps, values, and whether it is a proxy."""
    stats = root / "train" / "stats.jsonl"
    if not stats.exists():
        return None
    rows = read_jsonl(stats)
    with contents_of(stats):
        evals = [r for r in rows if r.get("metric", r.get("proxy")) is not None]
        if not evals:
            return None
        return {"name": str(evals[-1].get("metric_name", evals[-1].get("proxy_name", "proxy"))),
                "proxy": bool(evals[-1].get("metric_is_proxy", True)), "steps": [int(r["step"]) for r in evals],
                "values": [float(r.get("metric", r.get("proxy"))) for r in evals]}


def plot_quality_curve(curve: dict[str, Any], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5.2, 3.2))
    ax.plot(curve["steps"], curve["values"], marker="o", ms=3, color="#4c72b0")
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel(curve["name"])
    ax.set_title(f"in-loop quality ({'proxy, ' if curve['proxy'] else ''}lower is better)", fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save_fig(fig, path)


def reference_rows(root: Path) -> list[dict[str, Any]]:
    """Per metric: the floor (held-out real), each generator, the ceiling (matched noise), and where the
    generators land between them: position 0 = real, 1 = noise."""
    base_file, metrics_file = root / "evaluate" / "baselines.json", root / "evaluate" / "metrics.json"
    if not metrics_file.exists():
        return []
    metrics = read_json_object(metrics_file, what="metrics.json")
    with contents_of(metrics_file):
        base, base_source = metrics.get("reference_points"), metrics_file  # `evaluate --reference-points`
        scores = [(str(a.get("name", "?")),
                   {m: float(v["mean"]) for m, v in a.get("metrics", {}).items() if "mean" in v})
                  for a in metrics.get("artifacts", [])]
    if base is None and base_file.exists():  # else the standalone `python -m ganctl.evaluate.baselines`
        base, base_source = read_json_object(base_file, what="baselines.json"), base_file
    if base is None:
        return []
    with contents_of(base_source):
        return _positions(base, scores)


def _positions(base: dict[str, Any], scores: list[tuple[str, dict[str, float]]]) -> list[dict[str, Any]]:
    rows = []
    for metric, floor in base["floor"].items():
        ceiling = base["ceiling"].get(metric)
        gens = [(name, values[metric]) for name, values in scores if metric in values]
        if ceiling is None or not gens or ceiling <= floor:
            continue
        rows.append({"metric": metric, "floor": floor, "ceiling": ceiling, "floor_kind": base["floor_kind"],
                     "ceiling_kind": base["ceiling_kind"],
                     "generators": [{"name": n, "value": v, "position": (v - floor) / (ceiling - floor)}
                                    for n, v in gens]})
    return rows


def _nearer(position: float) -> str:
    """How many times nearer the floor than the ceiling a position in [0, 1] is."""
    if position <= 0:
        return "at or below the real-image floor"
    if position >= 1:
        return "no better than matched noise"
    ratio = (1 - position) / position
    return f"{ratio:.1f}× nearer the real floor than the noise ceiling" if ratio >= 1 else \
        f"{1 / ratio:.1f}× nearer the noise ceiling than the real floor"


def _learning_section(root: Path) -> list[str]:
    lines: list[str] = []
    pair = draw_real_vs_generated(root, root / "report" / "real_vs_generated.png")
    curve = quality_curve(root)
    refs = reference_rows(root)
    if pair is None and curve is None and not refs:
        return lines
    lines += ["## Does it learn?", ""]
    if pair is not None:
        lines += [f"![real vs generated]({_rel(pair, root)})", ""]
    if curve is not None:
        png = plot_quality_curve(curve, root / "report" / "quality_curve.png")
        first, last = curve["values"][0], curve["values"][-1]
        lines += [f"In-loop `{curve['name']}`{' (a proxy)' if curve['proxy'] else ''}: {first:.4g} at step "
                  f"{curve['steps'][0]} → {last:.4g} at step {curve['steps'][-1]} "
                  f"({last / first:.1%} of the first value); best {min(curve['values']):.4g} at step "
                  f"{curve['steps'][curve['values'].index(min(curve['values']))]}.", "",
                  f"![quality curve]({_rel(png, root)})", ""]
    for r in refs:
        lines += [f"`{r['metric']}` between two reference points measured in this run (floor: "
                  f"{r['floor_kind']}; ceiling: {r['ceiling_kind']}):", "",
                  "| images | value | position (0 = real, 1 = noise) |", "|---|---|---|",
                  f"| held-out real (floor) | {r['floor']:.4g} | 0 |"]
        lines += [f"| {g['name']} | {g['value']:.4g} | {g['position']:.3f} |" for g in r["generators"]]
        lines += [f"| matched noise (ceiling) | {r['ceiling']:.4g} | 1 |", ""]
        lines += [f"- {g['name']}: {_nearer(g['position'])}." for g in r["generators"]] + [""]
    return lines


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _metrics_table(metrics: dict[str, Any]) -> list[str]:
    rows = metrics.get("artifacts", [])
    if not rows:
        return []
    metric_names = sorted({m for r in rows for m in r.get("metrics", {})})
    head = ["artifact", "params", *metric_names]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        vals = []
        for m in metric_names:
            v = r.get("metrics", {}).get(m)
            vals.append(f"{v['mean']:.4g} ± {v['std']:.2g}" if isinstance(v, dict) and "mean" in v else str(v))
        params = (r.get("cost") or {}).get("params", "")
        lines.append("| " + " | ".join([str(r.get("name", "")), str(params), *vals]) + " |")
    return lines + [""]


def summary(root: str | Path, seconds: float | None = None) -> str:
    """The few lines a person reads at the end of the pipeline: artifacts, sizes, metrics, pictures."""

    root = Path(root)
    lines = [f"ganctl pipeline finished{f' in {seconds:.0f} s' if seconds is not None else ''}: {root}"]
    for label, path in (("genotype", root / "search" / "genotype.json"),
                        ("dense generator", root / "train" / "generator.safetensors"),
                        ("compressed generator", root / "compress" / "generator.safetensors")):
        if not path.exists():
            continue
        extra = ""
        if path.suffix == ".safetensors":
            info = read_artifact(path, with_hash=False)
            extra = f"  ({info.num_params:,} parameters)"
        lines.append(f"  {label:<21} {path}{extra}")
    dense, small = root / "train" / "generator.safetensors", root / "compress" / "generator.safetensors"
    if dense.exists() and small.exists():
        a, b = read_artifact(dense, with_hash=False).num_params, read_artifact(small, with_hash=False).num_params
        lines.append(f"  compression           {a:,} -> {b:,} parameters ({b / a:.1%} of dense)")
    metrics_file = root / "evaluate" / "metrics.json"
    if metrics_file.exists():
        metrics = read_json_object(metrics_file, what="metrics.json")
        with contents_of(metrics_file):
            for row in metrics.get("artifacts", []):
                vals = ", ".join(f"{k} {v['mean']:.4g}" for k, v in row.get("metrics", {}).items() if "mean" in v)
                lines.append(f"  {row.get('name', '?'):<21} {vals}")
    for r in reference_rows(root):
        gens = " | ".join(f"{g['name'].split('/')[0]} {g['value']:.4g}" for g in r["generators"])
        lines.append(f"  {r['metric']}: held-out real {r['floor']:.4g} | {gens} | matched noise {r['ceiling']:.4g}")
        for g in r["generators"]:
            where = f"{g['position']:.1%} of the way from real to noise"
            lines.append(f"    {g['name']}: {where} ({_nearer(g['position'])})")
    pictures = [p for p in (root / "report.md", root / "report" / "real_vs_generated.png",
                            root / "sample" / "grid.png", root / "sample" / "interpolation.png") if p.exists()]
    if pictures:
        lines.append("  pictures              " + ", ".join(str(p) for p in pictures))
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """A file of the run folder that is not as ganctl wrote it ends in one line naming it, and its exit code."""
    usage = "usage: python -m ganctl.report RUN_ROOT | --summary RUN_ROOT [SECONDS]"
    try:
        if len(argv) in (2, 3) and argv[0] == "--summary":
            try:
                seconds = float(argv[2]) if len(argv) == 3 else None
            except ValueError:
                print(f"{usage}\nerror: SECONDS {argv[2]!r} is not a number", file=sys.stderr)
                return 2
            print(summary(argv[1], seconds))
            return 0
        if len(argv) != 1 or argv[0].startswith("-"):
            print(usage, file=sys.stderr)
            return 2
        print(write_report(argv[0]))
    except GanctlError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
