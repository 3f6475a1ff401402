"""TensorBoard mirror of a run folder: stats.jsonl stays the source of truth, this only copies it.

The sink reads the lines the run already wrote (stats.jsonl, the search's alphas_history.jsonl) and
the sample grids in samples/, and writes them to `<run>/tensorboard/` through torch's SummaryWriter.
Reading the files rather than being called from inside the loops keeps the trainers free of logging
code and guarantees TensorBoard shows exactly what stats.jsonl holds.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ganctl.errors import UsageError

LOG_CHOICES = ("jsonl", "tensorboard")
TB_DIR = "tensorboard"
STATS = "stats.jsonl"
ALPHA_HISTORY = "alphas_history.jsonl"
SAMPLE_NAME = re.compile(r"step-(\d+)\.png$")
SKIP_KEYS = {"time", "step"}


def check_log_choice(log: str) -> str:
    if log not in LOG_CHOICES:
        raise UsageError(f"--log {log!r}: expected one of {', '.join(LOG_CHOICES)}")
    if log == "tensorboard":
        _summary_writer_class()
    return log


def _summary_writer_class() -> Any:
    try:
        import tensorboard  # noqa: F401  # lazy: optional; torch.utils.tensorboard needs the package
        from torch.utils.tensorboard import SummaryWriter  # lazy: optional dependency, and loads torch
    except ImportError:
        raise UsageError("--log tensorboard needs the tensorboard package; install it with: "
                         "pip install 'ganctl[tensorboard]'") from None
    return SummaryWriter


class _Tail:
    """New complete lines of a JSON-lines file since the last read (a torn last line waits)."""

    def __init__(self, path: Path):
        self.path, self.offset = path, 0

    def rows(self) -> list[dict[str, Any]]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                chunk = f.read()
        except FileNotFoundError:
            return []
        end = chunk.rfind(b"\n") + 1
        self.offset += end
        out = []
        for line in chunk[:end].splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict):
                out.append(row)
        return out


class TensorBoardSink:
    """Mirror `run_dir` into TensorBoard; call `poll()` now and then (cheap) and `close()` at the end.

    kind: train (scalars, sample grids, PMish β histogram), search (scalars and α softmax per edge and
    op), compress (scalars). With `resume`, events from the restored step on replace the old ones.
    """

    def __init__(self, run_dir: str | Path, kind: str, resume: bool = False):
        self.root = Path(run_dir)
        self.kind = kind
        self.resume = resume
        self._writer_class = _summary_writer_class()
        self._writer: Any = None
        self._stats = _Tail(self.root / STATS)
        self._alphas = _Tail(self.root / ALPHA_HISTORY)
        self._images: set[str] = set()

    def _w(self, first_step: int) -> Any:
        if self._writer is None:
            purge = first_step if self.resume else None  # TensorBoard drops older events from this step on
            self._writer = self._writer_class(log_dir=str(self.root / TB_DIR), purge_step=purge)
        return self._writer

    def poll(self) -> None:
        for row in self._stats.rows():
            self.write_row(row)
        if self.kind == "search":
            for doc in self._alphas.rows():
                self.write_alphas(doc)
        if self.kind == "train":
            self._new_grids()

    def write_row(self, row: dict[str, Any]) -> None:
        step = row.get("step")
        if not isinstance(step, int):
            return
        w, wall = self._w(step), row.get("time")
        for key, value in row.items():
            if key in SKIP_KEYS:
                continue
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                w.add_scalar(f"{self.kind}/{key}", value, step, walltime=wall)
            elif key == "pmish_beta" and isinstance(value, list) and value:
                w.add_histogram("pmish/beta", np.asarray(value, dtype=np.float64), step, walltime=wall)

    def write_alphas(self, doc: dict[str, Any]) -> None:
        step = doc.get("step")
        if not isinstance(step, int):
            return
        w = self._w(step)
        for net, edges in doc.items():
            if not isinstance(edges, dict):
                continue
            for edge, entry in edges.items():
                for op, p in zip(entry.get("ops", []), entry.get("softmax", []), strict=False):
                    w.add_scalar(f"alpha_softmax/{net}/{edge}/{op}", p, step)

    def _new_grids(self) -> None:
        folder = self.root / "samples"
        if not folder.is_dir():
            return
        for path in sorted(folder.glob("step-*.png")):
            match = SAMPLE_NAME.search(path.name)
            if not match or path.name in self._images:
                continue
            with Image.open(path) as im:
                image = np.asarray(im.convert("RGB"))
            step = int(match.group(1))
            self._w(step).add_image("samples", image, step, dataformats="HWC")
            self._images.add(path.name)

    def close(self) -> None:
        self.poll()
        if self._writer is not None:
            self._writer.flush()
            self._writer.close()
