"""A run started by ganctl 0.1.0 (config.json without the fields added since) still resumes, with the
behaviour it had; a config.json missing only some of them is damaged (exit 3)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from ganctl.cli.app import app
from ganctl.io.safeio import read_json_object
from ganctl.train.config import ADDED_AFTER_0_1_0

TINY = ["train", "--preset", "tiny", "--eval-every", "0", "--device", "cpu", "--quiet", "--width", "4",
        "--d-width", "8", "--batch-size", "4"]


def _strip(out, keys):
    path = out / "config.json"
    saved = json.loads(path.read_text())
    for key in keys:
        saved.pop(key)
    path.write_text(json.dumps(saved))


def test_old_config_resumes_with_old_behaviour(tmp_path, monkeypatch):
    monkeypatch.setenv("GANCTL_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "run"
    assert CliRunner().invoke(app, [*TINY, "--steps", "2", "--out", str(out)]).exit_code == 0
    _strip(out, ADDED_AFTER_0_1_0)
    r = CliRunner().invoke(app, ["train", "--resume", str(out), "--steps", "3", "--allow-change", "steps", "--quiet"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in (out / "stats.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 3
    assert ADDED_AFTER_0_1_0 == {"bound_increment": 4.0, "ema_warmup": True, "d_forward": "joint",
                                 "metric": "proxy", "inception_weights": None, "compile_mode": "default",
                                 "lr_decay_start": 1.0}  # 1: constant rates, as 0.1.0 trained
    assert read_json_object(out / "config.json")["steps"] == 3


def test_config_missing_some_new_fields_is_damaged(tmp_path, monkeypatch):
    monkeypatch.setenv("GANCTL_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "run"
    assert CliRunner().invoke(app, [*TINY, "--steps", "2", "--out", str(out)]).exit_code == 0
    _strip(out, ["d_forward"])
    r = CliRunner().invoke(app, ["train", "--resume", str(out), "--steps", "3", "--allow-change", "steps", "--quiet"])
    assert r.exit_code == 3
    assert "config.json" in r.output and "d_forward" in r.output


def test_refuse_changed_names_each_change_and_ignores_other_keys():
    import pytest

    from ganctl.errors import UsageError
    from ganctl.io.configfile import refuse_changed

    saved = {"rank": 4, "method": "cp", "device": "cpu"}
    refuse_changed(saved, {**saved, "device": "cuda"}, ["rank", "method"], "advice")  # device not checked
    with pytest.raises(UsageError) as err:
        refuse_changed(saved, {**saved, "rank": 8, "method": "tucker"}, ["rank", "method"], "start over")
    assert str(err.value) == ("--resume: the flags differ from the saved run in method ('cp' -> 'tucker'), "
                              "rank (4 -> 8); start over")


def test_config_from_before_the_rate_decay_resumes_with_constant_rates(tmp_path, monkeypatch):
    """Fields came in generations: a file written after the first six but before lr_decay_start lacks only that
    one, and resumes with the constant rates it was trained with."""
    monkeypatch.setenv("GANCTL_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "run"
    assert CliRunner().invoke(app, [*TINY, "--steps", "2", "--out", str(out)]).exit_code == 0
    _strip(out, ["lr_decay_start"])
    r = CliRunner().invoke(app, ["train", "--resume", str(out), "--steps", "3", "--allow-change", "steps", "--quiet"])
    assert r.exit_code == 0, r.output
    assert read_json_object(out / "config.json")["lr_decay_start"] == 1.0
    rows = [json.loads(line) for line in (out / "stats.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 3 and rows[-1]["lr_g"] == rows[0]["lr_g"]


def test_train_config_with_a_legacy_key_and_a_missing_field_is_damaged(tmp_path, monkeypatch):
    """No train config.json was written with legacy keys: `lr` in place of lr_g/lr_d beside a missing `loss` is
    a damaged file (exit 3), not an old one whose recipe fields take defaults."""
    monkeypatch.setenv("GANCTL_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "run"
    assert CliRunner().invoke(app, [*TINY, "--steps", "2", "--out", str(out)]).exit_code == 0
    path = out / "config.json"
    saved = json.loads(path.read_text())
    saved["lr"] = saved.pop("lr_g")
    saved.pop("lr_d")
    saved.pop("loss")
    path.write_text(json.dumps(saved))
    r = CliRunner().invoke(app, ["train", "--resume", str(out), "--steps", "3", "--allow-change", "steps", "--quiet"])
    assert r.exit_code == 3 and "config.json" in r.output
