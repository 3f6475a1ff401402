"""examples/pipeline.sh (the README's main job) end to end at a toy budget: every stage writes what the
next reads, the summary prints, and training takes the bf16 + D width 48 path exactly on CPUs with native
bf16 (read here from the CPU's own flags, independently of the script's test)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PIPELINE = Path(__file__).resolve().parents[1] / "examples" / "pipeline.sh"


def _native_bf16() -> bool:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags = {word for line in text.splitlines() if line.startswith("flags") for word in line.split()}
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def _run(tmp_path: Path, out: Path, **env: str) -> subprocess.CompletedProcess:
    full = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "GANCTL_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1", "TRAIN_STEPS": "3",
            "FINETUNE_STEPS": "2", **env}
    full.pop("GANCTL_INCEPTION_WEIGHTS", None)
    return subprocess.run(["bash", str(PIPELINE), str(out)], capture_output=True, text=True, env=full, timeout=900)


@pytest.mark.slow
def test_main_job_runs_every_stage_and_picks_the_training_path(tmp_path):
    out = tmp_path / "demo"
    run = _run(tmp_path, out)
    assert run.returncode == 0, run.stderr[-2000:]
    for rel in ("search/genotype.json", "train/best_generator.safetensors", "compress/generator.safetensors",
                "evaluate/metrics.json", "sample/grid.png", "report.md"):
        assert (out / rel).is_file(), rel
    config = json.loads((out / "train" / "config.json").read_text())
    assert config["steps"] == 3 and config["preset"] == "tiny"
    if _native_bf16():
        assert (config["d_width"], config["precision"]) == (48, "bf16")
        assert "(--steps 3 --d-width 48 --precision bf16)" in run.stdout
    else:
        assert (config["d_width"], config["precision"]) == (32, "auto")
    metrics = json.loads((out / "evaluate" / "metrics.json").read_text())
    assert metrics["format"] == "ganctl.metrics"
    assert "ganctl pipeline finished in" in run.stdout and "of the way from real to noise" in run.stdout


@pytest.mark.slow
def test_main_job_train_flags_replace_the_automatic_choice(tmp_path):
    """TRAIN_FLAGS reaches `ganctl train` as given and is not topped up with the automatic flags (which
    would set a valid precision after it): the bad value stops the chain at train, with train's message."""
    out = tmp_path / "demo"
    run = _run(tmp_path, out, TRAIN_FLAGS="--precision fp8")
    assert run.returncode == 2, run.stderr[-2000:]
    assert "--precision 'fp8'" in run.stderr
    assert (out / "search" / "genotype.json").is_file() and not (out / "compress").exists()
