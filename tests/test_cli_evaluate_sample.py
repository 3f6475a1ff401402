"""evaluate and sample through the CLI, on a real (tiny) genotype-built generator and the shapes data."""
import json

import numpy as np
import pytest
import torch
from PIL import Image
from tiny_artifact import tiny_generator_artifact
from typer.testing import CliRunner

from ganctl.cli.app import app

runner = CliRunner()


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    return tiny_generator_artifact(tmp_path_factory.mktemp("art"))[0]


def _last_json(output):
    return json.loads(output.strip().splitlines()[-1])


def test_sample_grid_deterministic_and_sized(artifact, tmp_path):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    for p, bs in ((a, 5), (b, 64)):
        res = runner.invoke(app, ["sample", str(artifact), "--num", "9", "--seed", "3", "--grid", str(p),
                                  "--batch-size", str(bs), "--device", "cpu", "--json"])
        assert res.exit_code == 0, res.output
        assert _last_json(res.output)["count"] == 9
    assert np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b)))
    w, h = Image.open(a).size
    assert (w, h) == (3 * 32 + 4 * 2, 3 * 32 + 4 * 2)  # 3×3 grid, 2-px padding


def test_sample_npz_matches_grid_pixels(artifact, tmp_path):
    res = runner.invoke(app, ["sample", str(artifact), "--num", "4", "--seed", "1", "--npz", str(tmp_path / "s.npz"),
                              "--device", "cpu"])
    assert res.exit_code == 0, res.output
    x = np.load(tmp_path / "s.npz")["x"]
    assert x.shape == (4, 32, 32, 3) and x.dtype == np.uint8
    res = runner.invoke(app, ["sample", str(artifact), "--num", "4", "--seed", "1", "--out-dir", str(tmp_path / "d"),
                              "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert np.array_equal(np.asarray(Image.open(tmp_path / "d" / "000002.png")), x[2])
    res = runner.invoke(app, ["sample", str(artifact), "--num", "4", "--seed", "1", "--grid", str(tmp_path / "g.png"),
                              "--nrow", "4", "--scale", "2", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    grid = np.asarray(Image.open(tmp_path / "g.png"))
    assert grid.shape == (64 + 4, 4 * 66 + 2, 3)
    assert np.array_equal(grid[2:66:2, 2 + 66 * 2: 66 + 66 * 2: 2], x[2])  # every other pixel: the source


def test_sample_bad_input(artifact, tmp_path):
    cases = [
        (["--num", "0", "--grid", str(tmp_path / "g.png")], "must be positive"),
        (["--grid", str(tmp_path / "g.png"), "--npz", str(tmp_path / "x.npz")], "exactly one"),
        (["--grid", str(tmp_path / "g.jpg")], "PNG"),
        (["--grid", str(tmp_path / "g.png"), "--scale", "0"], "--scale must be in 1..16"),
        (["--grid", str(tmp_path / "g.png"), "--scale", "99"], "--scale must be in 1..16"),
        (["--npz", str(tmp_path / "x.npz"), "--scale", "2"], "--scale enlarges a --grid"),
    ]
    for extra, msg in cases:
        res = runner.invoke(app, ["sample", str(artifact), *extra, "--device", "cpu"])
        assert res.exit_code == 2 and msg in res.output and "Traceback" not in res.output, res.output
    res = runner.invoke(app, ["sample", str(tmp_path / "nope.safetensors"), "--grid", str(tmp_path / "g.png")])
    assert res.exit_code == 3 and "not found" in res.output


def test_evaluate_writes_protocol_and_refuses_overwrite(artifact, tmp_path):
    args = ["evaluate", str(artifact), "--data", "shapes", "--metrics", "fid,kid", "--num-samples", "64",
            "--num-reference", "128", "--extractor", "randconv", "--batch-size", "32", "--device", "cpu",
            "--out", str(tmp_path / "ev"), "--no-cost", "--seeds", "2", "--json"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    m = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    row = m["artifacts"][0]
    names = sorted(row["metrics"])
    assert all("randconv" in n for n in names), names  # proxy metrics say so in their names
    fid = row["metrics"][[n for n in names if n.startswith("fid")][0]]
    assert len(fid["per_seed"]) == 2 and fid["mean"] == pytest.approx(np.mean(fid["per_seed"]))
    assert fid["protocol"]["num_samples"] == 64 and fid["protocol"]["extractor_is_proxy"] is True
    assert fid["protocol"]["artifact_sha256"] and m["data"]["name"] == "shapes"
    res2 = runner.invoke(app, args)
    assert res2.exit_code == 6 and "--force" in res2.output


def test_evaluate_bad_input(artifact, tmp_path):
    base = ["--data", "shapes", "--device", "cpu", "--out", str(tmp_path / "ev")]
    res = runner.invoke(app, ["evaluate", str(artifact), "--metrics", "fdi", *base])
    assert res.exit_code == 2 and "unknown metric" in res.output
    res = runner.invoke(app, ["evaluate", str(artifact), "--num-samples", "0", *base])
    assert res.exit_code == 2 and "positive" in res.output
    res = runner.invoke(app, ["evaluate", str(artifact), "--extractor", "inception-v3-compat", "--num-samples", "8",
                              *base])
    assert res.exit_code == 7 and "--inception-weights" in res.output
    from ganctl.io.checkpoint import save_checkpoint

    save_checkpoint(tmp_path / "c.pt", {"kind": "train", "w": torch.zeros(1)})
    res = runner.invoke(app, ["evaluate", str(tmp_path / "c.pt"), *base])
    assert res.exit_code == 3 and "c.pt" in res.output
