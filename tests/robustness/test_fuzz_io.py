"""Property-based fuzzing of the file loaders: a corrupted file gives a clean GanctlError, never a crash."""
import json
import struct

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file
from torch import nn

from ganctl import models
from ganctl.errors import GanctlError
from ganctl.io.artifact import save_generator
from ganctl.io.checkpoint import load_checkpoint, save_checkpoint
from ganctl.models.artifact import load_generator

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


class LinG(nn.Module):
    def __init__(self, spec):
        super().__init__()
        self.spec = dict(spec)
        self.latent_dim = int(spec["latent_dim"])
        self.fc = nn.Linear(self.latent_dim, 12)

    def forward(self, z):
        return torch.tanh(self.fc(z)).view(-1, 3, 2, 2)


@pytest.fixture
def artifact_bytes(tmp_path, monkeypatch):
    monkeypatch.setattr(models, "build_generator", lambda spec: LinG(spec), raising=False)
    path = tmp_path / "g.safetensors"
    save_generator(path, LinG({"arch": "lin", "latent_dim": 4}))
    return path.read_bytes()


def _mutate(data: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    buf = bytearray(data)
    for pos, val in edits:
        buf[pos % len(buf)] = val
    return bytes(buf[:cut] if cut is not None else buf)


@FUZZ
@given(edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=6),
       cut=st.one_of(st.none(), st.integers(0, 400)))
def test_corrupted_artifact_fails_cleanly(tmp_path, artifact_bytes, edits, cut):
    path = tmp_path / "fuzz.safetensors"
    path.write_bytes(_mutate(artifact_bytes, edits, cut))
    try:
        g, _ = load_generator(path)
    except GanctlError as e:
        assert str(path) in str(e)
        return
    with torch.no_grad():  # a mutation that still loads must give a working module
        g(torch.zeros(1, g.latent_dim))


@FUZZ
@given(meta=st.dictionaries(st.sampled_from(["format", "version", "spec", "provenance", "num_params", "x"]),
                            st.one_of(st.text(max_size=30), st.sampled_from(
                                ["ganctl.generator", "1", "{}", "[]", '{"arch": "lin"}', '{"latent_dim": -1}',
                                 '{"arch": "lin", "latent_dim": "a"}', "null"])), max_size=6))
def test_arbitrary_metadata_fails_cleanly(tmp_path, artifact_bytes, meta):
    path = tmp_path / "meta.safetensors"
    save_file({"fc.weight": torch.zeros(12, 4), "fc.bias": torch.zeros(12)}, str(path), metadata=meta)
    try:
        load_generator(path)
    except GanctlError as e:
        assert str(path) in str(e)


def _header_bomb(n: int) -> bytes:
    return struct.pack("<Q", n) + b"{" * 8


@FUZZ
@given(n=st.integers(0, 2**63))
def test_safetensors_header_size_lies(tmp_path, n):
    path = tmp_path / "bomb.safetensors"
    path.write_bytes(_header_bomb(n))
    with pytest.raises(GanctlError):
        load_generator(path)


@pytest.fixture
def checkpoint_bytes(tmp_path):
    path = tmp_path / "ck.pt"
    save_checkpoint(path, {"kind": "train", "step": 5, "w": torch.randn(8), "opt": {"lr": 1e-3, "m": [torch.ones(2)]}})
    return path.read_bytes()


@FUZZ
@given(edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=6),
       cut=st.one_of(st.none(), st.integers(0, 2000)))
def test_corrupted_checkpoint_fails_cleanly(tmp_path, checkpoint_bytes, edits, cut):
    path = tmp_path / "fuzz.pt"
    path.write_bytes(_mutate(checkpoint_bytes, edits, cut))
    try:
        state = load_checkpoint(path, expect_kind="train")
    except GanctlError as e:
        assert str(path) in str(e)
        return
    assert state["format"] == "ganctl.checkpoint"


@FUZZ
@given(obj=st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8)),
                        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
                        max_leaves=10))
def test_foreign_json_and_pickles_fail_cleanly(tmp_path, obj):
    path = tmp_path / "x.pt"
    torch.save(obj, path)
    with pytest.raises(GanctlError):
        load_checkpoint(path)
    (tmp_path / "x.json").write_text(json.dumps(obj))
