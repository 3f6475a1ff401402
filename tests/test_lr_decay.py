"""--lr-decay-start: the learning-rate factor, what train's optimisers use, and the flag's checks."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from ganctl.cli.app import app
from ganctl.core.optim import lr_factor
from ganctl.io.artifact import read_artifact
from ganctl.io.checkpoint import load_checkpoint

TINY = ["--preset", "tiny", "--data", "shapes", "--width", "8", "--d-width", "16", "--batch-size", "8",
        "--device", "cpu", "--deterministic", "--quiet", "--eval-every", "0"]


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANCTL_CACHE", str(tmp_path / "cache"))


def test_factor_is_constant_then_linear_to_zero():
    # written out by hand: 10 updates, decay from update 5 -> 5/5, 4/5, ..., 1/5
    assert [lr_factor(s, 10, 0.5) for s in range(10)] == [1, 1, 1, 1, 1, 1.0, 0.8, 0.6, 0.4, 0.2]
    assert [lr_factor(s, 4, 0.0) for s in range(4)] == [1.0, 0.75, 0.5, 0.25]
    assert all(lr_factor(s, 10, None) == 1.0 for s in range(10))
    # a start past the last update still decays nothing before it and never goes negative
    assert lr_factor(9, 10, 0.99) == 1.0 and lr_factor(12, 10, 0.5) == 0.0
    assert all(lr_factor(s, 10, 1.0) == 1.0 for s in range(10))  # 1: the decay never starts


def test_train_steps_with_the_scheduled_rates(tmp_path):
    out = tmp_path / "run"
    r = CliRunner().invoke(app, ["train", *TINY, "--out", str(out), "--steps", "4", "--log-every", "1",
                                 "--lr-g", "1e-3", "--lr-d", "2e-3", "--lr-decay-start", "0.5"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in (out / "stats.jsonl").read_text().splitlines()]
    # the rate of the update each row ends: updates 0..3 of 4, decay from update 2 -> 1, 1, 2/2, 1/2
    assert [row["lr_g"] for row in rows] == pytest.approx([1e-3, 1e-3, 1e-3, 5e-4], rel=0, abs=1e-15)
    assert json.loads((out / "config.json").read_text())["lr_decay_start"] == 0.5
    assert read_artifact(out / "generator.safetensors").provenance["lr_decay_start"] == 0.5

    ckpt = load_checkpoint(out / "checkpoint.pt", expect_kind="train")
    assert ckpt["opt_d"]["param_groups"][0]["lr"] == pytest.approx(1e-3, rel=1e-12)  # D: 2e-3 · 1/2


def _lr_rows(out):
    return [row["lr_g"] for row in map(json.loads, (out / "stats.jsonl").read_text().splitlines())]


def test_decay_start_1_keeps_the_rates(tmp_path):
    out = tmp_path / "run"
    r = CliRunner().invoke(app, ["train", *TINY, "--out", str(out), "--steps", "3", "--log-every", "1",
                                 "--lr-g", "3e-4", "--lr-decay-start", "1"])
    assert r.exit_code == 0, r.output
    assert _lr_rows(out) == [3e-4] * 3
    # config.json says 1 (a replayed --config keeps the rates constant, whatever the preset's value)
    assert json.loads((out / "config.json").read_text())["lr_decay_start"] == 1.0
    assert "lr_decay_start" not in read_artifact(out / "generator.safetensors").provenance
    # an older ganctl wrote null for constant rates: the same value, so neither a plain resume of the finished
    # run (refused: nothing to do) nor one that says 1 (or extends it) counts it as a change
    saved = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps({**saved, "lr_decay_start": None}))
    r = CliRunner().invoke(app, ["train", "--resume", str(out), "--quiet"])
    assert r.exit_code != 0 and "already finished" in r.output, r.output
    r = CliRunner().invoke(app, ["train", "--resume", str(out), "--steps", "4", "--lr-decay-start", "1",
                                 "--allow-change", "steps", "--quiet"])
    assert r.exit_code == 0, r.output
    assert _lr_rows(out) == [3e-4] * 4


def test_resume_without_decay_restores_the_full_rates(tmp_path):
    """Turning the decay off on resume (--allow-change lr_decay_start) trains on at the configured rates, not
    at the decayed rate the checkpoint's optimiser held."""
    out = tmp_path / "run"
    r = CliRunner().invoke(app, ["train", *TINY, "--out", str(out), "--steps", "4", "--log-every", "1",
                                 "--lr-g", "1e-3", "--lr-decay-start", "0.5"])
    assert r.exit_code == 0, r.output
    assert _lr_rows(out)[-1] == pytest.approx(5e-4, rel=1e-12)
    r = CliRunner().invoke(app, ["train", "--resume", str(out), "--steps", "6", "--log-every", "1",
                                 "--lr-decay-start", "1", "--allow-change", "steps", "--allow-change",
                                 "lr_decay_start", "--quiet"])
    assert r.exit_code == 0, r.output
    assert _lr_rows(out)[4:] == [1e-3, 1e-3]
    # with the rates constant, a changed --lr-g takes effect too (it used to keep the checkpoint's rate)
    r = CliRunner().invoke(app, ["train", "--resume", str(out), "--steps", "7", "--log-every", "1", "--lr-g", "2e-3",
                                 "--allow-change", "steps", "--allow-change", "lr_g", "--quiet"])
    assert r.exit_code == 0, r.output
    assert _lr_rows(out)[6:] == [2e-3]


@pytest.mark.parametrize("value", ["1.5", "-0.1", "nan", "inf"])
def test_bad_decay_start_is_one_clear_line(tmp_path, value):
    out = tmp_path / "run"
    r = CliRunner().invoke(app, ["train", *TINY, "--out", str(out), "--steps", "2", "--lr-decay-start", value])
    assert r.exit_code == 2, r.output
    assert "lr-decay-start" in r.output.replace("_", "-") and "Traceback" not in r.output
    assert not out.exists()
