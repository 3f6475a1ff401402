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

from ganctl.genotype import Genotype, load_genotype  # noqa: E402
from ganctl.io.atomic import atomic_target, atomic_write_text  # noqa: E402
from ganctl.io.safeio import read_json_object  # noqa: E402

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
    from ganctl.models.artifact import load_generator
    from ganctl.nn.activations import pmish_betas

    root = Path(root)
    lines = ["# ganctl run report", "", f"Run folder: `{root}`", ""]
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
        lines += _metrics_table(read_json_object(metrics_file, what="metrics.json"))
    pictures = sorted((root / "sample").glob("*.png")) if (root / "sample").is_dir() else []
    if pictures:
        lines += ["## Samples", ""] + [f"`{p.name}`: ![{p.stem}]({_rel(p, root)})" for p in pictures] + [""]
    out = root / "report.md"
    atomic_write_text(out, "\n".join(lines) + "\n")
    return out


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
            vals.append(f"{v['mean']:.3f} ± {v['std']:.3f}" if isinstance(v, dict) and "mean" in v else str(v))
        params = (r.get("cost") or {}).get("params", "")
        lines.append("| " + " | ".join([str(r.get("name", "")), str(params), *vals]) + " |")
    return lines + [""]


def summary(root: str | Path, seconds: float | None = None) -> str:
    """The few lines a person reads at the end of the pipeline: artifacts, sizes, metrics, pictures."""
    from ganctl.io.artifact import read_artifact

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
        for row in read_json_object(metrics_file, what="metrics.json").get("artifacts", []):
            vals = ", ".join(f"{k} {v['mean']:.3f}" for k, v in row.get("metrics", {}).items() if "mean" in v)
            lines.append(f"  {row.get('name', '?'):<21} {vals}")
    pictures = [p for p in (root / "report.md", root / "sample" / "grid.png", root / "sample" / "interpolation.png")
                if p.exists()]
    if pictures:
        lines.append("  pictures              " + ", ".join(str(p) for p in pictures))
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "--summary":
        print(summary(argv[1], float(argv[2]) if len(argv) > 2 else None))
        return 0
    if len(argv) != 1:
        print("usage: python -m ganctl.report RUN_ROOT | --summary RUN_ROOT [SECONDS]", file=sys.stderr)
        return 2
    print(write_report(argv[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
