"""Run-folder pictures: the loss/metric curves (matplotlib Agg, no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ganctl.io.atomic import atomic_target


def plot_curves(rows: list[dict[str, Any]], path: str | Path, metric_name: str | None) -> Path | None:
    """curves.png: L_D and L_G per tick, and the proxy metric per evaluation (labelled as a proxy)."""
    ticks = [r for r in rows if "loss_d" in r]
    if not ticks:
        return None
    import matplotlib  # lazy: matplotlib loads in seconds; only a run's end draws

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: as above, after the Agg backend is chosen

    evals = [r for r in rows if r.get("metric", r.get("proxy")) is not None]
    fig, axes = plt.subplots(1, 2 if evals else 1, figsize=(10 if evals else 5, 3.5), squeeze=False)
    ax = axes[0][0]
    steps = [r["step"] for r in ticks]
    ax.plot(steps, [r["loss_d"] for r in ticks], label="L_D")
    ax.plot(steps, [r["loss_g"] for r in ticks], label="L_G")
    ax.set_xlabel("step")
    ax.set_title("losses")
    ax.legend()
    if evals:
        ax2 = axes[0][1]
        ax2.plot([r["step"] for r in evals], [r.get("metric", r.get("proxy")) for r in evals], marker="o")
        ax2.set_xlabel("step")
        proxy = evals[-1].get("metric_is_proxy", True)
        ax2.set_title(f"{metric_name or 'proxy'} ({'proxy, ' if proxy else ''}lower is better)")
    fig.tight_layout()
    with atomic_target(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return Path(path)
