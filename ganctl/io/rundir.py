"""Run directories: config first, stats as JSON lines, a lock, and no silent clobbering of a finished run."""
from __future__ import annotations

import fcntl
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ganctl.errors import InputFileError, RunDirError
from ganctl.io.atomic import atomic_write_json, atomic_write_text

CONFIG = "config.json"
STATS = "stats.jsonl"
STATUS = "status.json"
LOCK = ".ganctl.lock"


@dataclass
class RunDir:
    root: Path
    _lock: IO[str] | None = field(default=None, repr=False)

    @classmethod
    def open(cls, out: str | Path, config: dict[str, Any], *, force: bool = False, resume: bool = False,
             write: bool = True) -> RunDir:
        """Claim `out` for this process. `write=False` (non-zero DDP ranks) only reads."""
        root = Path(out)
        if root.exists() and not root.is_dir():
            raise RunDirError("--out exists and is not a folder", root)
        run = cls(root)
        if not write:
            return run
        try:
            root.mkdir(parents=True, exist_ok=True)
            lock = open(root / LOCK, "a+")  # noqa: SIM115 - held for the life of the run
        except OSError as e:
            raise RunDirError(f"cannot create the run folder ({e.strerror or e})", root) from e
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            raise RunDirError("another ganctl process is using this run folder", root) from None
        run._lock = lock
        try:
            run._claim(config, force=force, resume=resume)
        except BaseException:
            run.close()
            raise
        return run

    def _claim(self, config: dict[str, Any], *, force: bool, resume: bool) -> None:
        finished = self.is_finished()
        started = (self.root / CONFIG).exists()
        if started:  # only inside a ganctl run folder: never sweep a folder we did not create
            self._drop_stale_temps()
        if resume:
            if not started:
                raise RunDirError("nothing to resume: no config.json here", self.root)
            if finished:
                raise RunDirError("this run already finished; nothing to resume (use --force to start over)",
                                  self.root)
            return
        if started and not force:
            what = "a finished run" if finished else "an unfinished run (use --resume to continue it)"
            raise RunDirError(f"--out holds {what}; pass --force to overwrite", self.root)
        if force:
            for child in self.root.iterdir():
                if child.name == LOCK:
                    continue
                shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
        atomic_write_json(self.root / CONFIG, config)

    def _drop_stale_temps(self) -> None:
        """Remove `.NAME.xxxx.tmp` files a killed writer left (we hold the lock, so none is in progress)."""
        for tmp in self.root.rglob(".*.tmp"):
            if tmp.is_file():
                tmp.unlink(missing_ok=True)

    def path(self, name: str) -> Path:
        return self.root / name

    def is_finished(self) -> bool:
        status = self.root / STATUS
        if not status.exists():
            return False
        try:
            return bool(json.loads(status.read_text()).get("finished"))
        except (OSError, json.JSONDecodeError):
            return False

    def log(self, stats: dict[str, Any]) -> None:
        """Append one line; a torn last line from a kill is skipped by read_stats."""
        line = json.dumps({"time": round(time.time(), 3), **stats}, default=_plain) + "\n"
        try:
            with open(self.root / STATS, "a") as f:
                f.write(line)
        except OSError as e:
            raise RunDirError(f"cannot append to {STATS} ({e.strerror or e})", self.root) from e

    def truncate_stats(self, after_step: int, key: str = "step") -> None:
        """On resume, drop lines logged after the checkpoint so the log matches the restored state."""
        truncate_jsonl(self.root / STATS, after_step, key)

    def finish(self, summary: dict[str, Any]) -> None:
        atomic_write_json(self.root / STATUS, {"finished": True, "time": time.time(), **summary})

    def close(self) -> None:
        if self._lock is not None:
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

    def __enter__(self) -> RunDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def load_config(out: str | Path) -> dict[str, Any]:
        path = Path(out) / CONFIG
        if not path.is_file():
            raise RunDirError("nothing to resume: no config.json here", Path(out))
        try:
            cfg = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise InputFileError(f"config is not valid JSON ({e})", path) from e
        if not isinstance(cfg, dict):
            raise InputFileError("config must be a JSON object", path)
        return cfg


def read_stats(root: str | Path) -> list[dict[str, Any]]:
    return read_jsonl(Path(root) / STATS)


def truncate_jsonl(path: Path, after_step: int, key: str = "step") -> None:
    """Keep the rows logged up to `after_step` (atomic rewrite; a row without `key` is kept)."""
    rows = [r for r in read_jsonl(path) if r.get(key, -1) <= after_step]
    atomic_write_text(path, "".join(json.dumps(r, default=_plain) + "\n" for r in rows))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if not path.exists():
        return rows
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # torn line from an interrupted write
        if isinstance(row, dict):
            rows.append(row)
    return rows


def _plain(obj: Any) -> Any:
    return obj.item() if hasattr(obj, "item") else str(obj)
