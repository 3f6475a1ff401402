"""Inception weights handling: wrong files are refused by name; the real network (when a weights file
is present and GANCTL_TEST_INCEPTION=1) gives the FID torch-fidelity computes from the same features."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from evaluate_standins import TinyGenerator, fake_data
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric

from ganctl.errors import InputFileError, WeightsUnavailableError
from ganctl.evaluate.api import EvalRequest, evaluate_artifacts
from ganctl.evaluate.extractors import build_extractor, empty_inception, extract_features
from ganctl.evaluate.generate import generate_uint8

WEIGHTS = os.environ.get("GANCTL_INCEPTION_WEIGHTS") or "/tmp/pt_inception.pth"
# the real network is slow on CPU (299 px resize, 2048-d covariance): opt in with GANCTL_TEST_INCEPTION=1
RUN_REAL = Path(WEIGHTS).is_file() and os.environ.get("GANCTL_TEST_INCEPTION") == "1"


def _shaped_like_inception(wrong_key: str | None = None) -> dict[str, torch.Tensor]:
    """A full key set whose tensors share one small storage (so the file stays small)."""
    shapes = {k: v.shape for k, v in empty_inception().state_dict().items()}
    pool = torch.zeros(max(s.numel() for s in shapes.values()) + 8)
    state = {k: pool[: s.numel()].view(s) for k, s in shapes.items()}
    if wrong_key:
        state[wrong_key] = pool[:7]
    return state


def test_wrong_shaped_weights_file_is_named(tmp_path):
    path = tmp_path / "not_inception.pth"
    torch.save(_shaped_like_inception("Mixed_6b.branch7x7_2.conv.weight"), path)
    with pytest.raises(InputFileError) as err:
        build_extractor("inception-v3-compat", weights=path)
    assert str(path) in str(err.value) and "Mixed_6b.branch7x7_2.conv.weight" in str(err.value)


def test_foreign_and_missing_weights_files(tmp_path, monkeypatch):
    monkeypatch.delenv("GANCTL_INCEPTION_WEIGHTS", raising=False)
    foreign = tmp_path / "foreign.pth"
    torch.save({"fc.weight": torch.zeros(3)}, foreign)
    with pytest.raises(InputFileError, match="missing"):
        build_extractor("inception-v3-compat", weights=foreign)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(InputFileError, match="junk.pth"):
        build_extractor("inception-v3-compat", weights=junk)
    with pytest.raises(InputFileError, match="not found"):
        build_extractor("inception-v3-compat", weights=tmp_path / "absent.pth")
    monkeypatch.setenv("GANCTL_INCEPTION_WEIGHTS", str(tmp_path / "absent.pth"))
    with pytest.raises(InputFileError, match="GANCTL_INCEPTION_WEIGHTS"):
        build_extractor("inception-v3-compat")


@pytest.mark.skipif(not RUN_REAL, reason="needs GANCTL_TEST_INCEPTION=1 and an FID Inception weights file")
def test_real_inception_fid_equals_scipy(tmp_path, monkeypatch):
    monkeypatch.setenv("GANCTL_CACHE", str(tmp_path / "cache"))
    data = fake_data(24, res=16)
    G = TinyGenerator()
    out = evaluate_artifacts([("g", G, None)], data,
        EvalRequest(metrics=["fid"], num_samples=24, extractor="auto", inception_weights=WEIGHTS, device="cpu",
        batch_size=12, cost=False))
    entry = out["artifacts"][0]["metrics"]["fid24_train"]
    assert entry["protocol"]["extractor"] == "inception-v3-compat"
    assert len(entry["protocol"]["weights_sha256"]) == 64
    ext = build_extractor("inception-v3-compat", weights=WEIGHTS)
    gen = extract_features(ext, [generate_uint8(G, 24, 0)], "cpu").features.double().numpy()
    ref = extract_features(ext, [data.images], "cpu").features.double().numpy()
    # torch-fidelity's own FID (eigvals of the product) on the same features, as the independent check
    direct = fid_statistics_to_metric(fid_features_to_statistics(torch.from_numpy(gen)),
                                      fid_features_to_statistics(torch.from_numpy(ref)), False)
    assert entry["mean"] == pytest.approx(direct["frechet_inception_distance"], rel=1e-4)
    # the rebuilt offline weights have a NaN classifier: IS must refuse, not return NaN
    if ext.logits_status == "nan":
        with pytest.raises(WeightsUnavailableError, match="classification layer"):
            evaluate_artifacts([("g", G, None)], data,
                EvalRequest(metrics=["is"], num_samples=24, inception_weights=WEIGHTS, device="cpu",
                extractor="inception-v3-compat"))
