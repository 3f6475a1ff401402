"""α over time: a JSON-lines history of derivation snapshots, drawn as one small chart per edge."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ganctl.io.atomic import atomic_target
from ganctl.io.rundir import read_jsonl, truncate_jsonl
from ganctl.search.supernet import split_key

HISTORY = "alphas_history.jsonl"


def append_history(path: Path, doc: dict[str, Any]) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(doc) + "\n")


def read_history(path: Path) -> list[dict[str, Any]]:
    return read_jsonl(path)


def truncate_history(path: Path, after_step: int) -> None:
    """On resume, drop snapshots taken after the checkpoint (they will be taken again)."""
    truncate_jsonl(path, after_step)


def plot_alphas(history_path: Path, out: Path) -> None:
    """Rows: one per network cell; columns: edges; lines: softmax(α) of each op against the step."""
    import matplotlib  # lazy: matplotlib loads in seconds; only a finished search draws

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: as above, after the Agg backend is chosen

    rows = read_history(history_path)
    if not rows:
        raise ValueError("no α snapshots recorded")
    nets = [k for k in ("generator", "discriminator") if k in rows[-1]]
    panels: list[tuple[str, int, list[str]]] = []  # (net, cell, edges)
    for net in nets:
        cells: dict[int, list[str]] = {}
        for key in rows[-1][net]:
            i, edge = split_key(key)
            cells.setdefault(i, []).append(edge)
        panels += [(net, i, cells[i]) for i in sorted(cells)]
    n_cols = max(len(edges) for _, _, edges in panels)
    fig, axes = plt.subplots(len(panels), n_cols, figsize=(2.2 * n_cols, 1.8 * len(panels)), squeeze=False,
                             sharex=True, sharey=True)
    steps = [r["step"] for r in rows]
    for r_idx, (net, cell, edges) in enumerate(panels):
        for c_idx in range(n_cols):
            ax = axes[r_idx][c_idx]
            if c_idx >= len(edges):
                ax.axis("off")
                continue
            key = f"cell{cell}_{edges[c_idx]}"
            ops = rows[-1][net][key]["ops"]
            for j, op in enumerate(ops):
                ax.plot(steps, [r[net][key]["softmax"][j] for r in rows], label=op, linewidth=1)
            ax.set_title(f"{net[0].upper()} cell{cell} {edges[c_idx]}", fontsize=7)
            ax.tick_params(labelsize=6)
            if r_idx == 0 or (panels[r_idx - 1][0] != net):
                ax.legend(fontsize=5, loc="upper left")
    fig.supxlabel("step")
    fig.supylabel("softmax(α)")
    fig.tight_layout()
    with atomic_target(out) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)
