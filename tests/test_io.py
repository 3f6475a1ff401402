"""Foundation: atomic writes, artifacts, checkpoints, run folders."""
import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

from ganctl import models
from ganctl.errors import InputFileError, RunDirError
from ganctl.io.artifact import read_artifact, save_generator
from ganctl.io.atomic import atomic_target, atomic_write_json, file_sha256
from ganctl.io.checkpoint import load_checkpoint, save_checkpoint
from ganctl.io.rundir import RunDir, read_stats
from ganctl.models.artifact import load_generator


class TinyG(nn.Module):
    def __init__(self, spec):
        super().__init__()
        self.spec = dict(spec)
        self.latent_dim = spec["latent_dim"]
        self.fc = nn.Linear(spec["latent_dim"], 3 * 4 * 4)
        self.bn = nn.BatchNorm1d(48)

    def forward(self, z):
        return torch.tanh(self.bn(self.fc(z))).view(-1, 3, 4, 4)


@pytest.fixture
def tiny_builder(monkeypatch):
    monkeypatch.setattr(models, "build_generator", lambda spec: TinyG(spec), raising=False)


def test_atomic_write_failure_keeps_previous(tmp_path):
    target = tmp_path / "a.json"
    atomic_write_json(target, {"v": 1})
    with pytest.raises(ZeroDivisionError), atomic_target(target) as tmp:
        tmp.write_text("half")
        raise ZeroDivisionError
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_generator_round_trip(tmp_path, tiny_builder):
    torch.manual_seed(0)
    g = TinyG({"arch": "tiny", "latent_dim": 8})
    g.bn.running_mean.uniform_()
    path = tmp_path / "g.safetensors"
    save_generator(path, g, {"step": 7})
    g2, info = load_generator(path)
    z = torch.randn(5, 8)
    g.eval()
    assert torch.equal(g(z), g2(z))
    assert info.spec == g.spec and info.provenance["step"] == 7
    assert info.num_params == sum(p.numel() for p in g.parameters())
    assert info.sha256 == file_sha256(path)


def test_truncated_and_foreign_artifacts(tmp_path, tiny_builder):
    g = TinyG({"arch": "tiny", "latent_dim": 8})
    path = tmp_path / "g.safetensors"
    save_generator(path, g)
    data = path.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputFileError, match="cut.safetensors"):
        load_generator(tmp_path / "cut.safetensors")
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(InputFileError, match="not a ganctl artifact"):
        read_artifact(tmp_path / "foreign.safetensors")
    with pytest.raises(InputFileError, match="not found"):
        read_artifact(tmp_path / "missing.safetensors")
    (tmp_path / "garbage.safetensors").write_bytes(b"\x00" * 100)
    with pytest.raises(InputFileError):
        read_artifact(tmp_path / "garbage.safetensors")


def test_artifact_weights_mismatch(tmp_path, tiny_builder):
    path = tmp_path / "g.safetensors"
    save_generator(path, TinyG({"arch": "tiny", "latent_dim": 8}))
    # same file, but a spec that builds a different shape
    from safetensors.torch import load_file, safe_open, save_file

    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    meta["spec"] = json.dumps({"arch": "tiny", "latent_dim": 9})
    save_file(load_file(str(path)), str(tmp_path / "bad.safetensors"), metadata=meta)
    with pytest.raises(InputFileError, match="shapes do not match"):
        load_generator(tmp_path / "bad.safetensors")


def test_checkpoint_round_trip_and_errors(tmp_path):
    state = {"kind": "train", "step": 3, "w": torch.arange(4.0), "nested": {"a": [1, 2.5, "x"]}}
    path = tmp_path / "ck.pt"
    save_checkpoint(path, state)
    back = load_checkpoint(path, expect_kind="train")
    assert back["step"] == 3 and torch.equal(back["w"], state["w"]) and back["nested"] == state["nested"]
    with pytest.raises(InputFileError, match="expected 'search'"):
        load_checkpoint(path, expect_kind="search")
    (tmp_path / "bad.pt").write_bytes(b"not a zip")
    with pytest.raises(InputFileError, match="bad.pt"):
        load_checkpoint(tmp_path / "bad.pt")
    torch.save({"w": torch.zeros(1)}, tmp_path / "foreign.pt")
    with pytest.raises(InputFileError, match="missing format"):
        load_checkpoint(tmp_path / "foreign.pt")


def test_checkpoint_never_runs_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    import pickle

    (tmp_path / "evil.pt").write_bytes(pickle.dumps({"format": "ganctl.checkpoint", "x": Evil()}))
    with pytest.raises(InputFileError):
        load_checkpoint(tmp_path / "evil.pt")
    assert not (tmp_path / "pwned").exists()


def test_rundir_lifecycle(tmp_path):
    out = tmp_path / "run"
    with RunDir.open(out, {"command": "train", "x": 1}) as run:
        assert json.loads((out / "config.json").read_text()) == {"command": "train", "x": 1}
        run.log({"step": 1, "loss": 0.5})
        run.log({"step": 2, "loss": 0.25})
    with pytest.raises(RunDirError, match="unfinished run"):
        RunDir.open(out, {"command": "train"})
    with RunDir.open(out, {}, resume=True) as run:
        run.truncate_stats(1)
        run.finish({"output": "x"})
    assert [r["step"] for r in read_stats(out)] == [1]
    with pytest.raises(RunDirError, match="finished run"):
        RunDir.open(out, {"command": "train"})
    with pytest.raises(RunDirError, match="already finished"):
        RunDir.open(out, {}, resume=True)
    with RunDir.open(out, {"command": "train", "x": 2}, force=True):
        assert not (out / "status.json").exists()
        assert json.loads((out / "config.json").read_text())["x"] == 2


def test_rundir_lock_refuses_second_process(tmp_path):
    out = tmp_path / "run"
    with RunDir.open(out, {"command": "train"}):
        code = textwrap.dedent(f"""
            from ganctl.io.rundir import RunDir
            from ganctl.errors import RunDirError
            try:
                RunDir.open({str(out)!r}, {{}}, force=True)
            except RunDirError as e:
                print("refused:", e)
        """)
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             cwd=os.path.dirname(os.path.dirname(__file__)))
        assert "another ganctl process" in res.stdout, res.stderr


def test_torn_stats_line_is_skipped(tmp_path):
    (tmp_path / "stats.jsonl").write_text('{"step": 1}\n{"step": 2, "lo')
    assert read_stats(tmp_path) == [{"step": 1}]


def test_unwritable_out(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")  # a file where a folder is needed fails even for root
    with pytest.raises(RunDirError, match="cannot create"):
        RunDir.open(blocker / "run", {})
    with pytest.raises(RunDirError, match="not a folder"):
        RunDir.open(blocker, {})


def test_full_disk_keeps_previous_file(tmp_path, monkeypatch):
    import errno

    target = tmp_path / "c.json"
    atomic_write_json(target, {"v": 1})

    def no_space(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(RunDirError, match="No space left"):
        atomic_write_json(target, {"v": 2})
    assert json.loads(target.read_text()) == {"v": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.json"]
