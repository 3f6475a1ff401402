"""--log tensorboard: the event files hold exactly what stats.jsonl (and the α history) hold."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ganctl.cli.app import app
from ganctl.logsink import TB_DIR, TensorBoardSink

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

runner = CliRunner()


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANCTL_CACHE", str(tmp_path / "cache"))


def _events(run: Path) -> EventAccumulator:
    acc = EventAccumulator(str(run / TB_DIR), size_guidance={"scalars": 0, "histograms": 0, "images": 0})
    acc.Reload()
    return acc


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_train_scalars_grids_and_pmish_histogram_match_stats(tmp_path):
    out = tmp_path / "run"
    res = runner.invoke(app, ["train", "--preset", "tiny", "--data", "shapes", "--width", "8", "--d-width", "16",
                              "--batch-size", "8", "--steps", "6", "--eval-every", "3", "--eval-samples", "32",
                              "--eval-extractor", "randconv", "--log-every", "2", "--device", "cpu",
                              "--out", str(out), "--log", "tensorboard", "--quiet"])
    assert res.exit_code == 0, res.output
    rows = _rows(out / "stats.jsonl")
    acc = _events(out)
    for key in ("loss_d", "loss_g", "b_u", "proxy"):
        want = [(r["step"], r[key]) for r in rows if key in r]
        got = [(e.step, e.value) for e in acc.Scalars(f"train/{key}")]
        assert [s for s, _ in got] == [s for s, _ in want] and want
        np.testing.assert_allclose([v for _, v in got], [v for _, v in want], rtol=1e-6)  # stored as float32
    hist = acc.Histograms("pmish/beta")
    with_beta = [r for r in rows if "pmish_beta" in r]
    assert [h.step for h in hist] == [r["step"] for r in with_beta]
    for h, r in zip(hist, with_beta, strict=True):
        assert h.histogram_value.num == len(r["pmish_beta"])
        assert h.histogram_value.sum == pytest.approx(sum(r["pmish_beta"]), rel=1e-9)
        assert h.histogram_value.min == pytest.approx(min(r["pmish_beta"]))
    grids = sorted(int(p.stem.split("-")[1]) for p in (out / "samples").glob("step-*.png"))
    assert [i.step for i in acc.Images("samples")] == grids and grids


def test_search_alpha_softmax_over_time(tmp_path):
    out = tmp_path / "search"
    res = runner.invoke(app, ["search", "--data", "shapes", "--preset", "tiny", "--steps", "6", "--device", "cpu",
                              "--out", str(out), "--log", "tensorboard", "--quiet"])
    assert res.exit_code == 0, res.output
    acc = _events(out)
    history = _rows(out / "alphas_history.jsonl")
    net = next(k for k, v in history[0].items() if isinstance(v, dict))
    edge = next(iter(history[0][net]))
    for i, op in enumerate(history[0][net][edge]["ops"]):
        got = [(e.step, e.value) for e in acc.Scalars(f"alpha_softmax/{net}/{edge}/{op}")]
        want = [(d["step"], d[net][edge]["softmax"][i]) for d in history]
        assert [s for s, _ in got] == [s for s, _ in want]
        np.testing.assert_allclose([v for _, v in got], [v for _, v in want], rtol=1e-6)
    stats = _rows(out / "stats.jsonl")
    key = next(k for k in stats[0] if k not in ("time", "step"))
    assert [e.value for e in acc.Scalars(f"search/{key}")] == pytest.approx([r[key] for r in stats], rel=1e-6)


def test_sink_waits_for_torn_lines_and_resume_purges(tmp_path):
    stats = tmp_path / "stats.jsonl"
    stats.write_text(json.dumps({"time": 1.0, "step": 50, "loss_d": 0.5, "loss_g": 1.5}) + "\n"
                     + '{"time": 2.0, "step": 100, "loss_d": 0.')  # a line being written
    sink = TensorBoardSink(tmp_path, "compress")
    sink.poll()
    with open(stats, "a") as f:
        f.write('25, "loss_g": 1.25, "note": "text is skipped"}\n')
    sink.close()
    acc = _events(tmp_path)
    assert [(e.step, e.value) for e in acc.Scalars("compress/loss_d")] == [(50, 0.5), (100, 0.25)]
    assert acc.Tags()["scalars"] == ["compress/loss_d", "compress/loss_g"]


def test_missing_tensorboard_is_one_line_and_creates_nothing(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # import tensorboard now raises ImportError
    out = tmp_path / "run"
    res = runner.invoke(app, ["train", "--preset", "tiny", "--data", "shapes", "--steps", "1", "--device", "cpu",
                              "--out", str(out), "--log", "tensorboard"])
    assert res.exit_code == 2 and "pip install 'ganctl[tensorboard]'" in res.output
    assert "Traceback" not in res.output and not out.exists()
    res = runner.invoke(app, ["train", "--preset", "tiny", "--out", str(out), "--log", "wandb"])
    assert res.exit_code == 2 and "--log 'wandb'" in res.output
