"""SIGKILL at seeded random points of train, search and compress fine-tuning, then `--resume`.

At the moment of each kill every file in the run folder must be absent or readable with the product's
own loaders (never torn), temp files must never carry a real name, and the resumed run must finish.
Train (--deterministic, CPU) and search (CPU) promise a bitwise resume: their final state is compared with
an uninterrupted run. A NaN injected into a batch stops training with the last good checkpoint kept.
"""
from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from ganctl.cli.app import app
from ganctl.io.checkpoint import load_checkpoint
from ganctl.models.artifact import load_generator

from ._support import audit_run_folder, kill_after, report_line, run_cli, spawn, timed_run

CASES = 3  # kills per stage (each is a full run plus a resume: seconds of CPU each)
TRAIN = ["train", "--preset", "tiny", "--data", "shapes", "--width", "8", "--d-width", "16",
         "--batch-size", "8", "--device", "cpu", "--deterministic", "--quiet", "--steps", "4",
         "--checkpoint-every", "1", "--log-every", "1", "--eval-every", "0"]
SEARCH = ["search", "--data", "shapes", "--preset", "tiny", "--device", "cpu", "--quiet", "--steps", "6",
          "--batch-size", "4"]
FT_STEPS = 6
TALLY: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def _report(pytestconfig):
    yield
    for stage in ("train", "search", "compress"):
        if TALLY[f"{stage}:cases"]:
            report_line(pytestconfig, f"[robustness] SIGKILL+resume {stage}: {TALLY[stage + ':cases']} "
                                      f"cases, {TALLY[stage + ':killed']} killed "
                                      f"({TALLY[stage + ':after-finish']} of them after status.json), "
                                      f"{TALLY[stage + ':files']} files read back after kills, "
                                      f"{TALLY[stage + ':temps']} stray temp files (all hidden *.tmp), "
                                      f"{TALLY[stage + ':restarted']} restarted with --force")
    if TALLY["nan:cases"]:
        report_line(pytestconfig, f"[robustness] NaN batch stop + resume: {TALLY['nan:cases']} case")


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def _restore_determinism():
    before = torch.are_deterministic_algorithms_enabled()
    yield
    torch.use_deterministic_algorithms(before)


def _delays(stage: str, window: float) -> list[float]:
    """Seeded kill points spread over the run's measured length (so they land mid-run on any machine load)."""
    rng = random.Random(f"robustness/{stage}")
    return [round(window * (i + rng.random()) / CASES * 0.95, 2) for i in range(CASES)]


def _kill_and_resume(stage: str, args: list[str], resume_args: list[str], out: Path, delay: float,
                     cache: Path) -> bool:
    """One case: start, SIGKILL after `delay` s, audit the folder as the kill left it, resume, audit again."""
    TALLY[f"{stage}:cases"] += 1
    killed = kill_after(spawn(args, cache), out, delay)
    TALLY[f"{stage}:killed"] += killed
    audit = audit_run_folder(out)
    TALLY[f"{stage}:files"] += sum(audit.checked.values())
    TALLY[f"{stage}:temps"] += len(audit.temps)
    status = out / "status.json"
    if killed and status.exists():  # killed while exiting: the run had finished, so resume must refuse
        TALLY[f"{stage}:after-finish"] += 1
        r = run_cli(resume_args, cache)
        assert r.returncode == 6 and "finished" in r.stderr, r.stderr[-1500:]
    elif killed:
        r = run_cli(resume_args, cache)
        if stage == "search" and r.returncode == 6 and "no checkpoint.pt yet" in r.stderr:
            r = run_cli([*args, "--force"], cache)  # search cannot resume before its first checkpoint
            TALLY["search:restarted"] += 1
        assert r.returncode == 0, f"{stage} resume after a kill at {delay}s failed: {r.stderr[-1500:]}"
    assert json.loads((out / "status.json").read_text())["finished"] is True
    leftover = [t for t in audit_run_folder(out).temps if Path(t).name.startswith(".")]
    assert not leftover or not killed, f"resume left the killed writer's temp files: {leftover}"
    return killed


def _same(a, b, where: str = "") -> None:
    """Recursive bitwise equality of checkpoint states."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), where
        for k in a:
            _same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, float) and a != a:
        assert b != b, where
    else:
        assert a == b, where


@pytest.mark.slow
def test_train_sigkill_then_resume(tmp_path, cache):
    window = timed_run([*TRAIN, "--out", str(tmp_path / "ref")], tmp_path / "ref", cache)
    for i, delay in enumerate(_delays("train", window)):
        out = tmp_path / f"cut{i}"
        _kill_and_resume("train", [*TRAIN, "--out", str(out)], ["train", "--resume", str(out), "--quiet"],
                         out, delay, cache)
    ref = load_checkpoint(tmp_path / "ref" / "checkpoint.pt", "train")
    ref_g, _ = load_generator(tmp_path / "ref" / "generator.safetensors")
    for i in range(CASES):
        got = load_checkpoint(tmp_path / f"cut{i}" / "checkpoint.pt", "train")
        assert got["step"] == ref["step"] == 4
        for part in ("G", "D", "ema", "opt_g", "opt_d", "bound", "data", "noise_rng"):
            _same(ref[part], got[part], f"cut{i}.{part}")
        g, _ = load_generator(tmp_path / f"cut{i}" / "generator.safetensors")
        for k, v in ref_g.state_dict().items():
            assert torch.equal(v, g.state_dict()[k]), (i, k)


@pytest.mark.slow
def test_search_sigkill_then_resume(tmp_path, cache):
    window = timed_run([*SEARCH, "--out", str(tmp_path / "ref")], tmp_path / "ref", cache)
    for i, delay in enumerate(_delays("search", window)):
        out = tmp_path / f"cut{i}"
        _kill_and_resume("search", [*SEARCH, "--out", str(out)], [*SEARCH, "--out", str(out), "--resume"],
                         out, delay, cache)
    ref = load_checkpoint(tmp_path / "ref" / "checkpoint.pt", "search")
    ref_alphas = json.loads((tmp_path / "ref" / "alphas.json").read_text())
    for i in range(CASES):
        got = load_checkpoint(tmp_path / f"cut{i}" / "checkpoint.pt", "search")
        assert got["step"] == ref["step"] == 6
        _same(ref["strategy"], got["strategy"], f"cut{i}.strategy")
        assert json.loads((tmp_path / f"cut{i}" / "alphas.json").read_text()) == ref_alphas


@pytest.fixture(scope="module")
def parent_artifact(tmp_path_factory) -> Path:
    """A small untrained generator with its discriminator beside it (compress's student D starts from it)."""
    from ganctl.genotype import load_genotype
    from ganctl.io.artifact import save_discriminator, save_generator
    from ganctl.models import build_discriminator, build_generator, discriminator_spec, generator_spec

    folder = tmp_path_factory.mktemp("parent")
    spec = generator_spec(load_genotype("tiny"), resolution=32, width=8, latent_dim=6, init_seed=1)
    G = build_generator(spec)
    save_generator(folder / "generator.safetensors", G, {"stage": "train", "loss": "mmd", "data": "shapes"})
    D = build_discriminator(discriminator_spec("resnet", width=16, resolution=32, out_dim=16, init_seed=2))
    save_discriminator(folder / "discriminator.safetensors", D)
    return folder / "generator.safetensors"


def compress_args(artifact: Path, out: Path, steps: int = FT_STEPS) -> list[str]:
    return ["compress", str(artifact), "--out", str(out), "--rank", "2", "--layers", "cells.0.c*",
            "--finetune-steps", str(steps), "--checkpoint-every", "2", "--data", "shapes", "--batch-size", "8",
            "--probe-samples", "16",
            "--extractor", "randconv", "--fit-iters", "5", "--device", "cpu", "--quiet"]


@pytest.mark.slow
def test_compress_sigkill_then_resume(tmp_path, cache, parent_artifact):
    window = timed_run(compress_args(parent_artifact, tmp_path / "ref"), tmp_path / "ref", cache)
    for i, delay in enumerate(_delays("compress", window)):
        out = tmp_path / f"cut{i}"
        args = compress_args(parent_artifact, out)
        _kill_and_resume("compress", args, [*args, "--resume"], out, delay, cache)
        G, info = load_generator(out / "generator.safetensors")
        assert info.spec["decomposition"] and info.provenance["finetune_steps"] == FT_STEPS
        assert load_checkpoint(out / "checkpoint.pt", "compress")["step"] == FT_STEPS
        with torch.no_grad():
            assert torch.isfinite(G(torch.zeros(2, G.latent_dim))).all()


def test_nan_batch_stops_cleanly_then_resume_finishes(tmp_path, monkeypatch, _restore_determinism):
    """End to end through the CLI: the 3rd real batch is NaN; the step-2 checkpoint survives and resumes."""
    from ganctl.data import stream as stream_mod

    TALLY["nan:cases"] += 1
    real_next, calls = stream_mod.BatchStream.next, {"n": 0}

    def poisoned(self):
        calls["n"] += 1
        batch = real_next(self)
        return batch * float("nan") if calls["n"] == 3 else batch

    monkeypatch.setattr(stream_mod.BatchStream, "next", poisoned)
    out = tmp_path / "run"
    r = CliRunner().invoke(app, [*TRAIN, "--out", str(out)])
    assert r.exit_code == 8, r.output
    assert "NaN/Inf at step 3" in r.output and "checkpoint kept" in r.output
    audit_run_folder(out)
    ckpt = load_checkpoint(out / "checkpoint.pt", "train")
    assert ckpt["step"] == 2
    assert all(torch.isfinite(v).all() for part in ("G", "D", "ema") for v in ckpt[part].values()
               if v.is_floating_point())
    G, info = load_generator(out / "generator.safetensors")
    assert info.provenance["step"] == 2
    monkeypatch.setattr(stream_mod.BatchStream, "next", real_next)
    r = CliRunner().invoke(app, ["train", "--resume", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    assert load_checkpoint(out / "checkpoint.pt", "train")["step"] == 4
