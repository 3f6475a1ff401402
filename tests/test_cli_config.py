"""Config files: preset < file < typed flags, --print-config creates nothing, config.json replays a run."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from ganctl.cli.app import app
from ganctl.compress.stage import CompressConfig
from ganctl.models.artifact import load_generator
from ganctl.search.config import make_config
from ganctl.train.config import resolve_config

runner = CliRunner()
TINY = ["--preset", "tiny", "--data", "shapes", "--width", "8", "--d-width", "16", "--batch-size", "8",
        "--device", "cpu", "--deterministic"]


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANCTL_CACHE", str(tmp_path / "cache"))


def _printed(res) -> dict:
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_print_config_equals_the_core_resolution_and_creates_nothing(tmp_path):
    out = tmp_path / "run"
    got = _printed(runner.invoke(app, ["train", *TINY, "--out", str(out), "--steps", "7", "--print-config"]))
    want = resolve_config("tiny", {"data": "shapes", "width": 8, "d_width": 16, "batch_size": 8, "device": "cpu",
                                   "deterministic": True, "out": str(out), "steps": 7, "precision": "fp32"})
    assert got == want.to_dict()
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_train_without_preset_says_which_one_it_uses():
    res = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "200"})
    assert "Without it: cifar10-large" in res.output
    got = _printed(runner.invoke(app, ["train", "--print-config", "--device", "cpu"]))
    assert got["preset"] == "cifar10-large" and got["width"] == 256


def test_file_then_typed_flags(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text('preset = "tiny"\nwidth = 12\nsteps = 7\nbatch_size = 4\nlatent_dim = 36\n')
    got = _printed(runner.invoke(app, ["train", "--config", str(toml), "--steps", "9", "--print-config",
                                       "--device", "cpu"]))
    assert (got["preset"], got["width"], got["steps"], got["batch_size"], got["latent_dim"]) == ("tiny", 12, 9, 4, 36)
    # a typed --epochs replaces the file's steps (they are alternatives), JSON works the same
    js = tmp_path / "c.json"
    js.write_text(json.dumps({"preset": "tiny", "steps": 7}))
    got = _printed(runner.invoke(app, ["train", "--config", str(js), "--epochs", "2", "--print-config"]))
    assert got["steps"] is None and got["epochs"] == 2.0


def test_a_typed_flag_equal_to_its_default_still_overrides_the_file(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"artifact": "a.safetensors", "out": "o", "batch_size": 32, "fit_iters": 7}))
    got = _printed(runner.invoke(app, ["compress", "--config", str(cfg), "--batch-size", "64", "--print-config"]))
    assert got["batch_size"] == 64 == CompressConfig(artifact="", out="").batch_size  # 64 is also the default
    assert got["fit_iters"] == 7 and got["artifact"] == "a.safetensors"
    got = _printed(runner.invoke(app, ["compress", "x.safetensors", "--config", str(cfg), "--print-config"]))
    assert got["artifact"] == "x.safetensors" and got["batch_size"] == 32


def test_search_config_file(tmp_path):
    cfg = tmp_path / "s.toml"
    cfg.write_text('preset = "tiny"\nmethod = "alphagan"\nsteps = 3\nwidth_g = 6\n')
    got = _printed(runner.invoke(app, ["search", "--config", str(cfg), "--out", str(tmp_path / "s"), "--steps", "5",
                                       "--device", "cpu", "--print-config"]))
    want = make_config("alphagan", "tiny", out=str(tmp_path / "s"), steps=5, width_g=6, data="shapes", device="cpu",
                       seed=0)
    assert got == want.to_dict()
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("command", ["train", "search", "compress"])
def test_unknown_key_and_broken_files(tmp_path, command):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"widht": 8}))
    res = runner.invoke(app, [command, "--config", str(bad), "--print-config"])
    assert res.exit_code == 2 and "'widht'" in res.output and "bad.json" in res.output
    assert "Traceback" not in res.output
    broken = tmp_path / "broken.toml"
    broken.write_text("width = = 3\n")
    res = runner.invoke(app, [command, "--config", str(broken), "--print-config"])
    assert res.exit_code == 3 and "broken.toml" in res.output and "TOML" in res.output
    res = runner.invoke(app, [command, "--config", str(tmp_path / "missing.json"), "--print-config"])
    assert res.exit_code == 3 and "not found" in res.output


def test_config_json_replays_a_run(tmp_path):
    first = tmp_path / "first"
    args = [*TINY, "--steps", "2", "--eval-every", "0", "--log-every", "1", "--checkpoint-every", "2", "--quiet"]
    res = runner.invoke(app, ["train", *args, "--out", str(first)])
    assert res.exit_code == 0, res.output
    second = tmp_path / "second"
    res = runner.invoke(app, ["train", "--config", str(first / "config.json"), "--out", str(second), "--quiet"])
    assert res.exit_code == 0, res.output
    a, b = (json.loads((d / "config.json").read_text()) for d in (first, second))
    assert {**a, "out": None} == {**b, "out": None}
    ga, _ = load_generator(first / "generator.safetensors")
    gb, _ = load_generator(second / "generator.safetensors")
    for (name, x), (_, y) in zip(ga.state_dict().items(), gb.state_dict().items(), strict=True):
        assert torch.equal(x, y), name  # --deterministic: the replay is the same run
    assert Path(second / "status.json").is_file()
