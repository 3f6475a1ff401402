"""End-to-end tiny CPU runs of `ganctl train`: outputs, exact resume after SIGKILL, NaN stop, bad input."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from ganctl.cli.app import app
from ganctl.io.artifact import read_artifact
from ganctl.io.checkpoint import load_checkpoint
from ganctl.models.artifact import load_generator

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--preset", "tiny", "--data", "shapes", "--width", "8", "--d-width", "16", "--batch-size", "8",
        "--device", "cpu", "--deterministic", "--quiet"]


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANCTL_CACHE", str(tmp_path / "cache"))


def cli(*args: str):
    return CliRunner().invoke(app, ["train", *args])


def test_tiny_run_writes_everything(tmp_path):
    out = tmp_path / "run"
    r = cli(*TINY, "--out", str(out), "--steps", "4", "--eval-every", "2", "--eval-samples", "16",
            "--log-every", "2", "--checkpoint-every", "2", "--json")
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["ok"] and result["output"] == str(out / "generator.safetensors")
    for name in ("config.json", "stats.jsonl", "checkpoint.pt", "generator.safetensors", "status.json",
                 "discriminator.safetensors", "best_generator.safetensors", "curves.png",
                 "samples/step-000002.png", "samples/step-000004.png"):
        assert (out / name).is_file(), name
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["width"] == 8 and cfg["steps"] == 4 and cfg["preset"] == "tiny"
    rows = [json.loads(line) for line in (out / "stats.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [2, 4]
    assert rows[0]["proxy_name"].endswith("_proxy") and len(rows[0]["pmish_beta"]) > 0
    ckpt = load_checkpoint(out / "checkpoint.pt", expect_kind="train")
    assert ckpt["step"] == 4 and ckpt["config"]["width"] == 8
    G, info = load_generator(out / "generator.safetensors")
    assert info.provenance["step"] == 4 and info.provenance["data_fingerprint"] == result["data_fingerprint"]
    for k, v in G.state_dict().items():
        assert torch.equal(v, ckpt["ema"][k]), k  # the artifact is the EMA generator
    z = torch.randn(3, G.latent_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(G(z), G(z))
    assert read_artifact(out / "best_generator.safetensors").provenance["proxy"] is True
    assert json.loads((out / "status.json").read_text())["finished"] is True


def _spawn(args: list[str], env_extra: dict[str, str] | None = None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env_extra or {})}
    return subprocess.Popen([sys.executable, "-m", "ganctl", "train", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_sigkill_then_resume_is_bitwise_identical(tmp_path):
    common = [*TINY, "--steps", "6", "--checkpoint-every", "3", "--log-every", "3", "--eval-every", "3",
              "--eval-samples", "16"]
    full = _spawn([*common, "--out", str(tmp_path / "full")])
    killed = _spawn([*common, "--out", str(tmp_path / "cut")], {"GANCTL_TEST_PAUSE_AFTER_CHECKPOINT": "120"})
    ckpt = tmp_path / "cut" / "checkpoint.pt"
    deadline = time.time() + 240
    while not ckpt.exists() and time.time() < deadline and killed.poll() is None:
        time.sleep(0.2)
    assert ckpt.exists(), killed.communicate()[1][-2000:]
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    assert load_checkpoint(ckpt, "train")["step"] == 3  # the kill left a loadable checkpoint
    _, err = full.communicate(timeout=300)
    assert full.returncode == 0, err[-2000:]
    r = cli("--resume", str(tmp_path / "cut"), "--quiet")
    assert r.exit_code == 0, r.output
    a, b = load_checkpoint(tmp_path / "full" / "checkpoint.pt"), load_checkpoint(ckpt)
    assert a["step"] == b["step"] == 6
    for part in ("G", "D", "ema"):
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), (part, k)
    assert a["bound"] == b["bound"] and a["best"] == b["best"]
    skip = {"time", "img_per_s"}

    def rows(run):
        return [{k: v for k, v in json.loads(line).items() if k not in skip}
                for line in (tmp_path / run / "stats.jsonl").read_text().splitlines()]

    assert rows("full") == rows("cut")


def test_nan_loss_stops_and_keeps_checkpoint(tmp_path, monkeypatch):
    import ganctl.core.losses as losses

    real_g_loss, calls = losses.g_loss, {"n": 0}

    def poisoned(*args, **kw):
        calls["n"] += 1
        value = real_g_loss(*args, **kw)
        return value * float("nan") if calls["n"] >= 3 else value

    monkeypatch.setattr(losses, "g_loss", poisoned)
    out = tmp_path / "run"
    r = cli(*TINY, "--out", str(out), "--steps", "6", "--eval-every", "0", "--log-every", "2",
            "--checkpoint-every", "2")
    assert r.exit_code == 8, r.output
    assert "NaN/Inf at step 3" in r.output and "checkpoint kept" in r.output
    ckpt = load_checkpoint(out / "checkpoint.pt", "train")
    assert ckpt["step"] == 2
    assert all(torch.isfinite(v).all() for v in ckpt["G"].values() if v.is_floating_point())


def test_bad_inputs_give_clear_errors(tmp_path):
    r = cli(*TINY, "--preset", "huge", "--out", str(tmp_path / "a"))
    assert r.exit_code == 2 and "unknown preset 'huge'" in r.output and "cifar10-large" in r.output
    r = cli(*TINY, "--resolution", "24", "--out", str(tmp_path / "b"), "--steps", "1")
    assert r.exit_code == 5 and "resolution 24" in r.output
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = cli(*TINY, "--out", str(blocker / "run"), "--steps", "1")
    assert r.exit_code == 6 and "error:" in r.output
    from ganctl.io.artifact import save_discriminator
    from ganctl.models import build_discriminator, discriminator_spec

    teacher = tmp_path / "teacher.safetensors"
    save_discriminator(teacher, build_discriminator(discriminator_spec(width=8, resolution=48, out_dim=4)))
    r = cli(*TINY, "--out", str(tmp_path / "c"), "--steps", "1", "--teacher-d", str(teacher))
    assert r.exit_code == 2 and "48 px" in r.output and "16 px" in r.output
    out = tmp_path / "d"
    r = cli(*TINY, "--out", str(out), "--steps", "1", "--eval-every", "0", "--checkpoint-every", "1")
    assert r.exit_code == 0, r.output
    (out / "status.json").unlink()  # pretend it was interrupted
    r = cli("--resume", str(out), "--width", "4", "--quiet")
    assert r.exit_code == 2 and "width (8 -> 4)" in r.output and "--allow-change" in r.output
