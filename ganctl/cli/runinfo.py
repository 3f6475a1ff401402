"""The first and last lines of a run: what is about to happen, and what came out of it.

Header: data, model size, device, precision, folder. Summary: wall time, the best metric and its step
(read back from stats.jsonl, the run's record), and the files written. Both go to the console (stderr),
so a --json last line on stdout stays machine-readable; --quiet silences them.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


def params(n: int) -> str:
    return f"{n / 1e6:.2f} M" if n >= 1e5 else f"{n / 1e3:.1f} k"


def header(console: Console, command: str, parts: list[str]) -> None:
    console.print(f"[bold]ganctl {command}[/]  " + "  ·  ".join(parts), highlight=False)


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h {m:02d}m" if h else f"{m}m {s:02d}s" if m else f"{s}s"


def best_row(out: Path, key: str, name_key: str | None = None) -> tuple[str, float, int] | None:
    """(metric name, lowest value, its step) over stats.jsonl rows that carry `key`."""
    best: tuple[str, float, int] | None = None
    try:
        lines = (out / "stats.jsonl").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        value = row.get(key) if isinstance(row, dict) else None
        if isinstance(value, (int, float)) and math.isfinite(value) and (best is None or value < best[1]):
            best = (str(row.get(name_key, key)) if name_key else key, float(value), int(row.get("step", 0)))
    return best


def files_written(out: Path) -> str:
    """Top-level files and folders of the run (folders with their file count), hidden ones left out."""
    items = []
    for p in sorted(out.iterdir()) if out.is_dir() else []:
        if p.name.startswith("."):
            continue
        if p.is_dir():
            items.append(f"{p.name}/ ({sum(1 for q in p.rglob('*') if q.is_file())} files)")
        else:
            items.append(p.name)
    return ", ".join(items)


def summary(console: Console, out: Path, started: float, best: tuple[str, float, int] | None) -> None:
    parts = [f"done in {duration(time.monotonic() - started)}"]
    if best is not None:
        parts.append(f"best {best[0]} {best[1]:.4g} at step {best[2]}")
    console.print("  ·  ".join(parts), highlight=False)
    console.print(f"wrote to {out}: {files_written(out)}", highlight=False)


def train_header_parts(cfg: Any, fast: bool = False) -> list[str]:
    """Model size by building G and D once on the CPU (a second for the 20 M preset) unless `fast`."""
    parts = [f"data {cfg.data} at {cfg.resolution} px"]
    if not fast:
        import torch  # lazy: loads torch; --help and flag errors stay fast

        from ganctl.train.loop import build_models  # lazy: loads torch; --help and flag errors stay fast

        with torch.device("cpu"):
            G, D = build_models(cfg)
        n_g, n_d = (sum(p.numel() for p in m.parameters()) for m in (G, D))
        parts.append(f"G {params(n_g)} / D {params(n_d)} parameters")
    from ganctl.runtime import resolve_device  # lazy: loads torch; --help and flag errors stay fast

    parts += [f"device {resolve_device(cfg.device)}", cfg.precision, f"out {cfg.out}"]
    return parts


@contextlib.contextmanager
def progress_bars(g: Any) -> Iterator[Any]:
    """A rich bar with ETA per stage (reference statistics, generation + features), fed by the core's callback."""
    if g.console.quiet:
        yield None
        return
    tasks: dict[str, Any] = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=g.console, transient=True) as bar:

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        from ganctl.runtime import progress_reporter  # lazy: loads torch; --help and flag errors stay fast

        with progress_reporter(update):  # work buried in the core (data decoding) joins this bar
            yield update


class LazyBars:
    """Bars that appear on the first report and go when every stage is complete: for work buried in a
    stage (data decoding) while no other bar is live. `stop()` ends them early (errors)."""

    def __init__(self, console: Console) -> None:
        self.console, self.bar, self.tasks = console, None, {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.console.quiet:
            return
        if self.bar is None:
            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TimeRemainingColumn(), console=self.console, transient=True)
            self.bar.start()
            self.tasks = {}
        if stage not in self.tasks:
            self.tasks[stage] = self.bar.add_task(stage, total=total)
        self.bar.update(self.tasks[stage], completed=done, total=total)
        if all(task.finished for task in self.bar.tasks):
            self.stop()

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
