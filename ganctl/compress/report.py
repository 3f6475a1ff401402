"""ranks.json → a size-vs-quality plot (per-layer probe curves + the whole-model points)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ganctl.io.atomic import atomic_target


def size_vs_quality_plot(report: dict[str, Any], path: str | Path) -> None:
    import matplotlib  # lazy: matplotlib loads in seconds; only a written report draws

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: as above, after the Agg backend is chosen

    fig, (ax_l, ax_m) = plt.subplots(1, 2, figsize=(11, 4.2))
    label = report.get("quality_name") or "proxy quality"
    for row in report["layers"]:
        probes = row.get("probes")
        if not probes:
            continue
        pts = sorted((p["params"] / row["params_before"], p["quality"]) for p in probes)
        ax_l.plot([x for x, _ in pts], [y for _, y in pts], marker="o", lw=1, ms=3, alpha=0.7)
    ax_l.set_xlabel("fraction of the layer's parameters kept")
    ax_l.set_ylabel(f"{label} (lower is better)")
    ax_l.set_title("ARD probes, one layer at a time")
    before = report["params_before"] / 1e6
    after = report["params_after"] / 1e6
    for name, x, key in (
        ("dense", before, "quality_before"),
        ("decomposed", after, "quality_decomposed"),
        ("fine-tuned", after, "quality_finetuned"),
    ):
        if report.get(key) is not None:
            ax_m.scatter([x], [report[key]], label=name, s=40)
    ax_m.set_xlabel("generator parameters (M)")
    ax_m.set_ylabel(f"{label} (lower is better)")
    ax_m.set_title(f"whole model: {report['param_ratio']:.2f}× parameters")
    if ax_m.collections:
        ax_m.legend()
    fig.tight_layout()
    with atomic_target(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)


def table_rows(report: dict[str, Any]) -> list[tuple[str, ...]]:
    """Rows for the CLI's Rich table: layer, method, rank, params before → after, chosen probe quality."""
    rows = []
    for row in report["layers"]:
        chosen = None
        for p in row.get("probes", []):
            if p["rank"] == row["rank"]:
                chosen = p["quality"]
        rank = row["rank"] if isinstance(row["rank"], (int, str)) else "×".join(map(str, row["rank"]))
        rows.append(
            (
                row["layer"],
                row["method"] or "-",
                str(rank),
                f"{row['params_before']:,}",
                f"{row['params_after']:,}",
                f"{chosen:.3f}" if chosen is not None else "-",
            )
        )
    return rows
