"""The train --help example (extend a finished run) works end to end; sample replaces only its own files."""
from __future__ import annotations

import zipfile

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from ganctl.cli.app import app
from ganctl.io.checkpoint import load_checkpoint
from ganctl.io.rundir import read_stats

from ._hardening import tree_hashes, write_tiny_artifact

runner = CliRunner()
TINY = ["--preset", "tiny", "--data", "shapes", "--device", "cpu", "--quiet", "--width", "4", "--d-width", "8",
        "--latent-dim", "6", "--batch-size", "4", "--eval-every", "0", "--checkpoint-every", "1"]


def test_train_help_example_extends_a_finished_run(tmp_path):
    out = tmp_path / "tiny"
    res = runner.invoke(app, ["train", *TINY, "--out", str(out), "--steps", "2"])
    assert res.exit_code == 0, res.output
    (out / "notes.txt").write_text("mine")
    res = runner.invoke(app, ["train", "--resume", str(out), "--quiet"])
    assert res.exit_code == 6 and "already finished" in res.output  # nothing changed: nothing to do
    before = tree_hashes(out)
    res = runner.invoke(app, ["train", "--resume", str(out), "--steps", "1", "--allow-change", "steps", "--quiet"])
    assert res.exit_code == 2 and "past the 1 steps" in res.output  # shrinking is refused...
    assert tree_hashes(out) == before  # ...and leaves the finished run as it was
    res = runner.invoke(app, ["train", "--resume", str(out), "--steps", "3", "--allow-change", "steps", "--quiet"])
    assert res.exit_code == 0, res.output
    assert load_checkpoint(out / "checkpoint.pt", "train")["step"] == 3
    assert [r["step"] for r in read_stats(out) if "loss_g" in r][-1] == 3
    assert '"finished": true' in (out / "status.json").read_text()
    assert (out / "notes.txt").read_text() == "mine"
    res = runner.invoke(app, ["train", *TINY, "--out", str(out), "--steps", "2", "--force"])
    assert res.exit_code == 0, res.output
    assert (out / "notes.txt").read_text() == "mine"  # --force replaced only ganctl's files


def test_sample_replaces_its_own_files_but_not_the_users(tmp_path):
    g = write_tiny_artifact(tmp_path / "g.safetensors")
    npz, grid = tmp_path / "s.npz", tmp_path / "s.png"
    for _ in range(2):  # the second run replaces what the first wrote
        assert runner.invoke(app, ["sample", str(g), "-n", "3", "--npz", str(npz), "--device", "cpu"]).exit_code == 0
        assert runner.invoke(app, ["sample", str(g), "-n", "3", "--grid", str(grid), "--device", "cpu"]).exit_code == 0
    with np.load(npz) as z:
        assert z["x"].shape == (3, 32, 32, 3)
    assert zipfile.ZipFile(npz).comment == b"written by ganctl"
    assert Image.open(grid).text.get("Software") == "ganctl"
    user = tmp_path / "user.npz"
    np.savez(user, x=np.zeros((1, 2, 2, 3), np.uint8))
    before = tree_hashes(tmp_path)
    res = runner.invoke(app, ["sample", str(g), "-n", "3", "--npz", str(user), "--device", "cpu"])
    assert res.exit_code == 6 and "user.npz" in res.output and "--overwrite" in res.output
    assert tree_hashes(tmp_path) == before
    res = runner.invoke(app, ["sample", str(g), "-n", "3", "--npz", str(user), "--overwrite", "--device", "cpu"])
    assert res.exit_code == 0
    with np.load(user) as z:
        assert z["x"].shape == (3, 32, 32, 3)
    out_dir = tmp_path / "pngs"
    out_dir.mkdir()
    (out_dir / "000001.png").write_bytes(b"user's picture")
    res = runner.invoke(app, ["sample", str(g), "-n", "3", "--out-dir", str(out_dir), "--device", "cpu"])
    assert res.exit_code == 6 and "000001.png" in res.output
    assert (out_dir / "000001.png").read_bytes() == b"user's picture" and not (out_dir / "000000.png").exists()


def test_two_evaluates_into_one_out_never_lose_a_result(tmp_path):
    """Two concurrent `evaluate` runs into one --out: one writes metrics.json, the other is refused (exit 6)."""
    import json
    import subprocess
    import sys

    from ._support import ROOT, cli_env

    g = write_tiny_artifact(tmp_path / "g.safetensors")
    out = tmp_path / "ev"
    args = [sys.executable, "-m", "ganctl", "evaluate", str(g), "--data", "shapes", "--extractor", "randconv",
            "--num-samples", "16", "--num-reference", "16", "--no-cost", "--device", "cpu", "--quiet", "--json",
            "--out", str(out)]
    procs = [subprocess.Popen(args, cwd=ROOT, env=cli_env(tmp_path / "cache"), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    codes = sorted(r[0] for r in results)
    assert codes == [0, 6], results
    winner = next(r for r in results if r[0] == 0)
    loser = next(r for r in results if r[0] == 6)
    assert "ev" in loser[2] and ("another ganctl process" in loser[2] or "metrics.json exists" in loser[2])
    written = json.loads((out / "metrics.json").read_text())
    assert json.loads(winner[1].splitlines()[-1])["output"] == str(out / "metrics.json")
    assert written["artifacts"][0]["path"] == str(g)
