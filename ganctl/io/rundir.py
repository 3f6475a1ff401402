"""Run directories: config first, stats as JSON lines, a lock, and no silent clobbering of a finished run."""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ganctl.errors import InputFileError, RunDirError
from ganctl.io.atomic import WRITE_HOOKS, atomic_write_json, atomic_write_text
from ganctl.io.safeio import parse_json, read_bytes, read_json, read_json_object

CONFIG = "config.json"
STATS = "stats.jsonl"
STATUS = "status.json"
LOCK = ".ganctl.lock"
MAX_JSONL_BYTES = 1 << 30
_TEMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]+\.tmp$")  # atomic_target's names: .NAME.RANDOM.tmp


MANIFEST = ".ganctl-manifest"  # one relative path per line: every file ganctl created here
# What a run folder made before manifests existed may hold; `--force` on such a folder removes only these.
LEGACY_OUTPUTS = ("config.json", "stats.jsonl", "status.json", "checkpoint.pt", "generator.safetensors",
                  "best_generator.safetensors", "discriminator.safetensors", "curves.png", "genotype.json",
                  "alphas.json", "alphas_history.jsonl", "alphas.png", "ranks.json", "plan.json",
                  "size_vs_quality.png", "samples", "genotypes")
LEGACY_FOLDERS = {"samples": "step-*.png", "genotypes": "step-*.json"}
INTERNAL = (LOCK, MANIFEST)


def lock_folder(root: Path) -> IO[str]:
    """An exclusive, non-blocking lock on `root` (created if needed); a second holder is refused (exit 6)."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        lock = open(root / LOCK, "a+")  # noqa: SIM115 - held for the life of the command
    except OSError as e:
        raise RunDirError(f"cannot create the output folder ({e.strerror or e})", root) from e
    try:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.close()
        raise RunDirError("another ganctl process is writing into this folder", root) from None
    return lock


@dataclass
class RunDir:
    root: Path
    _lock: IO[str] | None = field(default=None, repr=False)
    _created: set[str] = field(default_factory=set, repr=False)

    @classmethod
    def open(cls, out: str | Path, config: dict[str, Any], *, force: bool = False, resume: bool = False,
             write: bool = True, reopen: bool = False, inputs: tuple[str | Path | None, ...] = ()) -> RunDir:
        """Claim `out` for this process. `write=False` (non-zero DDP ranks) only reads.

        `reopen=True` lets `resume` continue a finished run (extending it with more steps).
        """
        root = Path(out)
        if root.exists() and not root.is_dir():
            raise RunDirError("--out exists and is not a folder", root)
        run = cls(root)
        if not write:
            return run
        run._lock = lock_folder(root)
        try:
            run._created = run._read_manifest()
            WRITE_HOOKS.append(run._record)
            run._claim(config, force=force, resume=resume, reopen=reopen, inputs=inputs)
        except BaseException:
            run.close()
            raise
        return run

    def _read_manifest(self) -> set[str]:
        try:
            text = read_bytes(self.root / MANIFEST, what="run manifest", error=RunDirError).decode("utf-8", "replace")
        except RunDirError:
            return set()
        return {line for line in text.splitlines() if line and _safe_relative(line)}

    def _record(self, path: Path) -> None:
        """WRITE_HOOK: note a file ganctl is about to create under this run folder."""
        try:
            rel = Path(os.path.abspath(path)).relative_to(os.path.abspath(self.root)).as_posix()
        except ValueError:
            return  # written elsewhere (a cache, another folder)
        if rel in self._created or rel in INTERNAL:
            return
        self._created.add(rel)
        try:
            with open(self.root / MANIFEST, "a", encoding="utf-8") as f:
                f.write(rel + "\n")
        except OSError as e:
            raise RunDirError(f"cannot record the created file ({e.strerror or e})", self.root / MANIFEST) from e

    def _is_run(self) -> bool:
        return (self.root / CONFIG).is_file() or (self.root / MANIFEST).is_file()

    def _has_work(self) -> bool:
        """True once a command wrote anything besides config.json (a failed start holds only that)."""
        legacy = not (self.root / MANIFEST).is_file()
        names = {p.name for p in self.root.iterdir()} if legacy else self._created
        return any(n not in (CONFIG, *INTERNAL) and (self.root / n).exists() for n in names)

    def _claim(self, config: dict[str, Any], *, force: bool, resume: bool, reopen: bool = False,
               inputs: tuple[str | Path | None, ...] = ()) -> None:
        is_run = self._is_run()
        if is_run:  # only inside a ganctl run folder: never sweep a folder we did not create
            self._drop_stale_temps()
        finished = self.is_finished()
        if resume:
            if not (self.root / CONFIG).is_file():
                raise RunDirError("nothing to resume: no config.json here", self.root)
            if finished and not reopen:
                raise RunDirError("this run already finished; nothing to resume (use --force to start over)",
                                  self.root)
            return  # a reopened finished run stays finished until the caller has restored it (mark_unfinished)
        if is_run and self._has_work() and not force:
            what = "a finished run" if finished else "an unfinished run (use --resume to continue it)"
            raise RunDirError(f"--out holds {what}; pass --force to overwrite", self.root)
        if force and not is_run and any(p.name not in INTERNAL for p in self.root.iterdir()):
            raise RunDirError("--force refused: --out is not a ganctl run folder (no config.json), so its "
                              "files are not ganctl's to delete; choose another --out", self.root)
        if is_run:
            self._refuse_inputs(inputs)
            self._remove_created()
        atomic_write_json(self.root / CONFIG, config)

    def _doomed(self) -> list[Path]:
        """What `--force` removes: the manifest's files (or legacy names), never anything outside the folder."""
        if (self.root / MANIFEST).is_file():
            names = sorted(self._created)
        else:
            names = [n for n in LEGACY_OUTPUTS if (self.root / n).exists()]
        root = os.path.realpath(self.root)
        return [self.root / n for n in names  # a symlinked folder must not lead the deletion elsewhere
                if _inside(os.path.realpath((self.root / n).parent), root)]

    def _refuse_inputs(self, inputs: tuple[str | Path | None, ...]) -> None:
        """Starting over here would delete a file this very command reads (compress --out its own parent)."""
        mine = [os.path.realpath(p) for p in inputs if p is not None and os.path.exists(p)]
        for target in self._doomed():
            real = os.path.realpath(target)
            if any(m == real or m.startswith(real + os.sep) for m in mine):
                raise RunDirError(f"--out holds this command's input {target.name}; starting over would delete "
                                  "it, so choose another --out", self.root)

    def _remove_created(self) -> None:
        """Delete exactly the files ganctl wrote here (manifest, or the legacy names); user files stay."""
        folders: set[Path] = set()
        for target in self._doomed():
            name = target.relative_to(self.root).as_posix()
            if target.is_dir() and not target.is_symlink() and name in LEGACY_FOLDERS:
                for p in target.glob(LEGACY_FOLDERS[name]):  # legacy: only ganctl's step-NNNNNN files
                    if p.is_file() or p.is_symlink():
                        p.unlink()
                folders.add(target)
            elif target.is_file() or target.is_symlink():
                target.unlink()
                folders.update(q for q in target.parents if self.root in q.parents)
        for folder in sorted(folders, key=lambda q: len(q.parts), reverse=True):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if now empty: a user's file inside keeps its folder
        self._created = set()
        (self.root / MANIFEST).unlink(missing_ok=True)

    def _drop_stale_temps(self) -> None:
        """Remove `.NAME.xxxx.tmp` files a killed writer left (we hold the lock, so none is in progress)."""
        for tmp in self.root.rglob(".*.tmp"):
            if tmp.is_file() and _TEMP_NAME.match(tmp.name):
                tmp.unlink(missing_ok=True)

    def path(self, name: str) -> Path:
        return self.root / name

    def is_finished(self) -> bool:
        status = self.root / STATUS
        if not status.exists():
            return False
        try:
            obj = read_json(status, what="status.json")
        except InputFileError:
            return False
        return isinstance(obj, dict) and obj.get("finished") is True

    def log(self, stats: dict[str, Any]) -> None:
        """Append one line; a torn last line from a kill is skipped by read_stats."""
        line = json.dumps({"time": round(time.time(), 3), **stats}, default=_plain) + "\n"
        self._record(self.root / STATS)
        try:
            with open(self.root / STATS, "a") as f:
                f.write(line)
        except OSError as e:
            raise RunDirError(f"cannot append to {STATS} ({e.strerror or e})", self.root) from e

    def truncate_stats(self, after_step: int, key: str = "step") -> None:
        """On resume, drop lines logged after the checkpoint so the log matches the restored state."""
        truncate_jsonl(self.root / STATS, after_step, key)

    def mark_unfinished(self) -> None:
        """An extended finished run is unfinished again until its new end (called once its state is restored)."""
        (self.root / STATUS).unlink(missing_ok=True)

    def finish(self, summary: dict[str, Any]) -> None:
        atomic_write_json(self.root / STATUS, {"finished": True, "time": time.time(), **summary})

    def close(self) -> None:
        if self._record in WRITE_HOOKS:
            WRITE_HOOKS.remove(self._record)
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
        if not os.path.lexists(path):
            raise RunDirError("nothing to resume: no config.json here", Path(out))
        return read_json_object(path, what="config.json")


def read_stats(root: str | Path) -> list[dict[str, Any]]:
    return read_jsonl(Path(root) / STATS)


def truncate_jsonl(path: Path, after_step: int, key: str = "step") -> None:
    """Keep the rows logged up to `after_step` (atomic rewrite; a row without `key` is kept)."""
    rows = [r for r in read_jsonl(path) if r.get(key, -1) <= after_step]
    atomic_write_text(path, "".join(json.dumps(r, default=_plain) + "\n" for r in rows))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if not os.path.lexists(path):
        return rows
    text = read_bytes(path, max_bytes=MAX_JSONL_BYTES, what=path.name).decode("utf-8", "replace")
    for line in text.splitlines():
        try:
            row = parse_json(line, path, what=path.name)
        except InputFileError:
            continue  # torn line from an interrupted write
        if isinstance(row, dict):
            rows.append(row)
    return rows


def _plain(obj: Any) -> Any:
    return obj.item() if hasattr(obj, "item") else str(obj)


def _safe_relative(name: str) -> bool:
    """A manifest line may only name something inside the run folder."""
    p = Path(name)
    return not p.is_absolute() and ".." not in p.parts


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)
