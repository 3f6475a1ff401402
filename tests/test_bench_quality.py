"""bench/quality.py end to end at a toy budget: both arms trained as named, scored in one protocol, and the
floor and ceiling equal to the standalone reference-points script given that protocol."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ganctl.evaluate.baselines import main as baselines_main
from ganctl.recipe import DEFAULTS

BENCH = Path(__file__).resolve().parents[1] / "bench" / "quality.py"


def _bench(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "GANCTL_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(BENCH), "--data", "sprites", "--mode", "cpu", "--device", "cpu",
                           "--extractor", "randconv", "--samples", "32", *args], capture_output=True, text=True,
                          env=env, timeout=600)


def test_arms_and_reference_points_in_one_protocol(tmp_path, monkeypatch):
    run = _bench(tmp_path, "--steps", "3", "--arms", "recipe,baseline,baseline-paper-rates,recipe",
                 "--out", str(tmp_path / "bq"))
    assert run.returncode == 0, run.stderr
    result = json.loads((tmp_path / "bq" / "quality.json").read_text())
    assert list(result["arms"]) == ["recipe", "baseline", "baseline-paper-rates"]  # each arm once, in order
    paper = result["arms"]["baseline-paper-rates"]  # the baseline at the recipe defaults' Adam rates
    assert (paper["loss"], paper["activation"], paper["lr_g"], paper["lr_d"], paper["betas"],
            paper["lr_decay_start"]) == ("hinge", "relu", DEFAULTS.lr_g, DEFAULTS.lr_d,
                                         [DEFAULTS.beta1, DEFAULTS.beta2], 1.0)
    recipe, baseline = result["arms"]["recipe"], result["arms"]["baseline"]
    assert (recipe["loss"], recipe["activation"], baseline["loss"], baseline["activation"]) == \
        ("mmd", "pmish", "hinge", "relu")
    assert recipe["steps"] == baseline["steps"] == 3 and recipe["batch_size"] == baseline["batch_size"] == 64
    assert recipe["lr_g"] == baseline["lr_g"] == 1e-3 and recipe["betas"] == baseline["betas"]  # the tiny rates
    fid, kid = "fid32_train_randconv_proxy", "kid32_train_randconv_proxy"
    assert set(recipe["scores"]) == set(paper["scores"]) == set(result["floor"]) == set(result["ceiling"]) == {fid, kid}
    assert result["extractor"] == "randconv" and result["extractor_is_proxy"] is True

    monkeypatch.setenv("GANCTL_CACHE", str(tmp_path / "cache"))
    standalone = tmp_path / "baselines.json"
    assert baselines_main(["--data", "sprites", "--metrics", "fid,kid", "--num-samples", "32", "--num-reference",
                           "32", "--extractor", "randconv", "--resolution", "16", "--seed", "0",
                           "--out", str(standalone)]) == 0
    points = json.loads(standalone.read_text())
    assert result["floor"] == points["floor"] and result["ceiling"] == points["ceiling"]
    assert result["floor"][fid] < result["ceiling"][fid]
    assert "matched noise (ceiling)" in run.stdout and "held-out real (floor)" in run.stdout


def test_unknown_arm_is_a_usage_error(tmp_path):
    run = _bench(tmp_path, "--arms", "recipe,nope", "--out", str(tmp_path / "bq"))
    assert run.returncode == 2 and "'recipe,nope': choose from" in run.stderr and not (tmp_path / "bq").exists()
