"""Contention for a run folder: a second process on the same --out, and writes that fail half-way.

A second command on a busy --out must refuse (exit 6, naming the other process) without disturbing the
first; a finished run refuses a new one without --force. A write that fails (full disk, unwritable target)
must leave the previous checkpoint / artifact byte-for-byte intact and no temp file behind.
"""
from __future__ import annotations

import errno
import os
import time
from collections import Counter
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from ganctl.cli.app import app
from ganctl.errors import GanctlError, RunDirError
from ganctl.io import artifact as artifact_mod
from ganctl.io.artifact import save_generator
from ganctl.io.checkpoint import load_checkpoint, save_checkpoint
from ganctl.models.artifact import load_generator

from ._support import audit_run_folder, report_line, spawn
from .test_kill_resume import TRAIN, compress_args, parent_artifact  # noqa: F401 - fixture reused

TALLY: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def _report(pytestconfig):
    yield
    report_line(pytestconfig, f"[robustness] shared --out: {TALLY['refusals']} refusals checked "
                              f"(busy and finished); failed writes: {TALLY['failed_writes']} cases")


@pytest.fixture
def _restore_determinism():
    before = torch.are_deterministic_algorithms_enabled()
    yield
    torch.use_deterministic_algorithms(before)


def _refused(args: list[str], needle: str) -> None:
    TALLY["refusals"] += 1
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 6, r.output
    assert needle in r.output, r.output
    assert "Traceback" not in r.output


@pytest.mark.slow
def test_second_command_on_a_busy_out_refuses(tmp_path, parent_artifact, _restore_determinism):  # noqa: F811
    out = tmp_path / "run"
    cache = tmp_path / "cache"
    # the pause after each checkpoint holds the first run (and its lock) open long enough to knock
    pause = {"GANCTL_TEST_PAUSE_AFTER_CHECKPOINT": "4"}
    first = spawn([*TRAIN, "--steps", "2", "--out", str(out)], cache, pause)
    deadline = time.monotonic() + 240
    while not (out / "checkpoint.pt").exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert first.poll() is None, first.communicate()[1][-1500:]
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.is_file()}
    busy = "another ganctl process"
    _refused([*TRAIN, "--steps", "2", "--out", str(out)], busy)
    _refused([*TRAIN, "--steps", "2", "--out", str(out), "--force"], busy)  # --force does not break a lock
    _refused(["train", "--resume", str(out), "--quiet"], busy)
    _refused(["search", "--preset", "tiny", "--device", "cpu", "--quiet", "--out", str(out)], busy)
    _refused(compress_args(parent_artifact, out, steps=0), busy)
    assert first.poll() is None  # the knocks did not stop the first run...
    after = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.is_file()}
    assert {k: v for k, v in after.items() if k in before} == before  # ...nor touch its files
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err[-1500:]
    audit_run_folder(out)
    assert load_checkpoint(out / "checkpoint.pt", "train")["step"] == 2
    _refused([*TRAIN, "--steps", "2", "--out", str(out)], "a finished run")
    _refused(["train", "--resume", str(out), "--quiet"], "already finished")


# -- writes that fail ------------------------------------------------------------------------------------

class TinyG(torch.nn.Module):
    def __init__(self, spec: dict):
        super().__init__()
        self.spec, self.latent_dim = dict(spec), int(spec["latent_dim"])
        self.fc = torch.nn.Linear(self.latent_dim, 12)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.fc(z)).view(-1, 3, 2, 2)


@pytest.fixture
def tiny_g(monkeypatch) -> TinyG:
    from ganctl import models

    monkeypatch.setattr(models, "build_generator", lambda spec: TinyG(spec), raising=False)
    torch.manual_seed(0)
    return TinyG({"arch": "tiny", "latent_dim": 4})


def _io_error(*_args, **_kw):
    raise OSError(errno.EIO, "Input/output error")


def _full_disk(*_args, **_kw):
    raise OSError(errno.ENOSPC, "No space left on device")


def _half_then_full(path_arg_index: int):
    """A writer that puts half a file down, then hits a full disk (the worst case for a non-atomic write)."""
    def write(*args, **_kw):
        target = args[path_arg_index]
        with open(target, "wb") as f:
            f.write(b"\x00PARTIAL" * 64)
        raise OSError(errno.ENOSPC, "No space left on device")
    return write


def _torch_full_disk(_obj, f, *_args, **_kw):
    """What torch.save really raises on a full disk (its zip writer's enforce, a RuntimeError)."""
    with open(f, "wb") as out:
        out.write(b"PK\x03\x04" + b"\x00" * 100)
    raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 832 vs 726")


def _safetensors_full_disk(_tensors, filename, **_kw):
    """What safetensors really raises on a full disk."""
    from safetensors import SafetensorError

    Path(filename).write_bytes(b"\x08\x00")
    raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize("failure", ["half-written", "io-error", "torch-full-disk", "rename"])
def test_checkpoint_write_failure_keeps_previous(tmp_path, monkeypatch, failure):
    TALLY["failed_writes"] += 1
    path = tmp_path / "checkpoint.pt"
    good = {"kind": "train", "step": 3, "w": torch.arange(6.0)}
    save_checkpoint(path, good)
    before = path.read_bytes()
    if failure == "half-written":
        monkeypatch.setattr(torch, "save", _half_then_full(1))
    elif failure == "io-error":  # the device fails before a byte is written
        monkeypatch.setattr(torch, "save", _io_error)
    elif failure == "torch-full-disk":
        monkeypatch.setattr(torch, "save", _torch_full_disk)
    else:
        monkeypatch.setattr(os, "replace", _full_disk)
    with pytest.raises(RunDirError) as info:
        save_checkpoint(path, {"kind": "train", "step": 4, "w": torch.zeros(6)})
    assert "previous file left intact" in str(info.value) and str(path) in str(info.value)
    monkeypatch.undo()
    assert path.read_bytes() == before
    state = load_checkpoint(path, "train")
    assert state["step"] == 3 and torch.equal(state["w"], good["w"])
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("failure", ["half-written", "safetensors-full-disk", "rename"])
def test_generator_write_failure_keeps_previous(tmp_path, monkeypatch, tiny_g, failure):
    TALLY["failed_writes"] += 1
    path = tmp_path / "generator.safetensors"
    save_generator(path, tiny_g, {"step": 1})
    before = path.read_bytes()
    newer = TinyG(tiny_g.spec)
    torch.nn.init.zeros_(newer.fc.weight)
    with monkeypatch.context() as m:  # the tiny_g fixture's own patch must outlive this one
        if failure == "half-written":
            m.setattr(artifact_mod, "save_file", _half_then_full(1))
        elif failure == "safetensors-full-disk":
            m.setattr(artifact_mod, "save_file", _safetensors_full_disk)
        else:
            m.setattr(os, "replace", _full_disk)
        with pytest.raises(RunDirError, match="previous file left intact"):
            save_generator(path, newer, {"step": 2})
    assert path.read_bytes() == before
    G, info = load_generator(path)
    assert info.provenance["step"] == 1
    assert torch.equal(G.fc.weight, tiny_g.fc.weight)
    assert _leftovers(tmp_path) == []


def test_unwritable_target_is_a_clean_error(tmp_path, tiny_g):
    """A file where the folder should be (works as root, unlike chmod): one clean error, nothing written."""
    TALLY["failed_writes"] += 2
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    with pytest.raises(GanctlError) as info:
        save_generator(blocker / "generator.safetensors", tiny_g)
    assert "cannot write here" in str(info.value)
    with pytest.raises(GanctlError):
        save_checkpoint(blocker / "checkpoint.pt", {"kind": "train", "step": 1})
    assert blocker.read_text() == "not a folder"


def test_failed_checkpoint_in_a_real_run_keeps_the_last_good_one(tmp_path, monkeypatch, _restore_determinism):
    """End to end: the disk fills during the 2nd checkpoint; the run stops with exit 6 and step 1 survives."""
    TALLY["failed_writes"] += 1
    real_save, calls = torch.save, {"n": 0}

    def flaky(obj, f, *args, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            return _torch_full_disk(obj, f)
        return real_save(obj, f, *args, **kw)

    monkeypatch.setattr(torch, "save", flaky)
    out = tmp_path / "run"
    r = CliRunner().invoke(app, [*TRAIN, "--out", str(out)])
    assert r.exit_code == 6, r.output
    assert "is the disk full?" in r.output and "previous file left intact" in r.output
    monkeypatch.setattr(torch, "save", real_save)
    audit_run_folder(out)
    assert load_checkpoint(out / "checkpoint.pt", "train")["step"] == 1
    assert _leftovers(out) == []
    r = CliRunner().invoke(app, ["train", "--resume", str(out), "--quiet"])  # space is back: resume finishes
    assert r.exit_code == 0, r.output
    assert load_checkpoint(out / "checkpoint.pt", "train")["step"] == 4


def test_reopening_a_run_drops_a_killed_writers_temps(tmp_path):
    """A SIGKILL mid-write leaves `.NAME.xxxx.tmp`; the next lock owner removes it, nothing else."""
    from ganctl.io.rundir import RunDir

    TALLY["failed_writes"] += 1
    out = tmp_path / "run"
    with RunDir.open(out, {"a": 1}):
        pass
    (out / "samples").mkdir()
    stale = [out / ".checkpoint.pt.k3j2.tmp", out / "samples" / ".step-000001.png.x9.tmp"]
    for path in stale:
        path.write_bytes(b"half a file")
    keep = out / "samples" / "step-000001.png"
    keep.write_bytes(b"png")
    with RunDir.open(out, {"a": 1}, resume=True):
        assert not any(p.exists() for p in stale)
    assert keep.read_bytes() == b"png" and (out / "config.json").is_file()
