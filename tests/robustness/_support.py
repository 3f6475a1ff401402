"""Shared helpers of the robustness suite: CLI subprocesses, seeded SIGKILLs, and an audit of a run folder.

The audit is the heart of the kill tests: whatever a SIGKILL leaves behind must be either absent or
readable with the product's own loaders, and a half-written temp file must never carry a real name.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def cli_env(cache: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "GANCTL_CACHE": str(cache), "GANCTL_OFFLINE": "1",
            **(extra or {})}


def spawn(args: list[str], cache: Path, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    """`python -m ganctl ARGS` in its own process (so SIGKILL hits only it)."""
    return subprocess.Popen([sys.executable, "-m", "ganctl", *args], cwd=ROOT, env=cli_env(cache, extra_env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_cli(args: list[str], cache: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ganctl", *args], cwd=ROOT, env=cli_env(cache),
                          capture_output=True, text=True, timeout=timeout)


def _wait_for_config(proc: subprocess.Popen, out: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not (out / "config.json").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)


def timed_run(args: list[str], out: Path, cache: Path, timeout: float = 300) -> float:
    """Run to the end; seconds from config.json's appearance to exit (the window the kills sample)."""
    proc = spawn(args, cache)
    _wait_for_config(proc, out, timeout)
    start = time.monotonic()
    _, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-1500:]
    return time.monotonic() - start


def kill_after(proc: subprocess.Popen, out: Path, delay: float, timeout: float = 240) -> bool:
    """Wait for the run folder's config.json, sleep `delay`, SIGKILL. False if the run ended first."""
    _wait_for_config(proc, out, timeout)
    end = time.monotonic() + delay
    while proc.poll() is None and time.monotonic() < end:
        time.sleep(0.02)
    if proc.poll() is not None:
        proc.communicate()
        return False
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    return True


def is_temp_name(name: str) -> bool:
    """Names the atomic writers use for work in progress (hidden `.NAME.xxxx.tmp`, or `NAME.tmp`)."""
    return name.endswith(".tmp")


@dataclass
class Audit:
    """What one look at a run folder found."""

    checked: dict[str, int] = field(default_factory=dict)  # suffix -> files read back
    temps: list[str] = field(default_factory=list)


def audit_run_folder(out: Path) -> Audit:
    """Read every file back with the product's loaders; fail the test on anything torn."""
    from ganctl.io.artifact import read_artifact
    from ganctl.io.checkpoint import load_checkpoint
    from ganctl.io.rundir import read_stats
    from ganctl.models.artifact import load_discriminator, load_generator

    audit = Audit()
    if not out.exists():
        return audit
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        name, rel = path.name, str(path.relative_to(out))
        if name == ".ganctl.lock":
            continue
        if name == ".ganctl-manifest":  # ganctl's list of the files it created: relative names inside `out`
            for line in path.read_text().splitlines()[:-1]:
                assert line and not line.startswith("/") and ".." not in Path(line).parts, rel
            continue
        if is_temp_name(name):
            assert name.startswith(".") or name in ("stats.jsonl.tmp", "alphas_history.tmp"), rel
            audit.temps.append(rel)
            continue
        suffix = path.suffix
        if suffix == ".safetensors":
            kind = read_artifact(path, with_hash=False).kind
            (load_generator if kind == "generator" else load_discriminator)(path)
        elif suffix == ".pt":
            assert load_checkpoint(path)["format"] == "ganctl.checkpoint", rel
        elif suffix == ".json":
            json.loads(path.read_text())
        elif suffix == ".jsonl":
            lines = path.read_text().splitlines()
            rows = read_stats(out) if name == "stats.jsonl" else None
            # only the very last line may be torn (an append cut by the kill); every other line parses
            for line in lines[:-1]:
                json.loads(line)
            assert rows is None or len(rows) >= len(lines) - 1, rel
        elif suffix == ".png":
            data = path.read_bytes()
            assert data.startswith(PNG_MAGIC) and data.endswith(b"IEND\xaeB`\x82"), f"torn PNG {rel}"
        else:
            pytest.fail(f"unexpected file in the run folder: {rel}")
        audit.checked[suffix] = audit.checked.get(suffix, 0) + 1
    return audit


def report_line(config: pytest.Config, text: str) -> None:
    """A line on the terminal even under output capture (the case counts the issue asks for)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:  # pragma: no cover - plain python runs
        print(text)
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(text)
