"""ganctl.evaluate.run(cfg): the evaluate stage as a function, without the CLI."""
import json

import numpy as np
import pytest
import torch
from tiny_artifact import tiny_generator_artifact

import ganctl
from ganctl.errors import RunDirError, UsageError
from ganctl.evaluate.extractors import build_extractor, extract_features
from ganctl.evaluate.generate import make_noise, to_uint8
from ganctl.evaluate.stage import EvaluateConfig, EvaluateHooks, short_names


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    return tiny_generator_artifact(tmp_path_factory.mktemp("art"), {"data": "shapes"})


def _fid64(mu1, s1, mu2, s2):
    from scipy import linalg

    covmean = linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def test_run_scores_writes_and_refuses_a_second_write(artifact, tmp_path, monkeypatch):
    monkeypatch.setenv("GANCTL_CACHE", str(tmp_path / "cache"))
    path, G = artifact
    seen: dict[str, list] = {"header": [], "note": [], "warn": []}
    hooks = EvaluateHooks(note=seen["note"].append, warn=seen["warn"].append, header=seen["header"].append)
    cfg = EvaluateConfig(artifacts=[path], metrics=["fid"], num_samples=40, num_reference=60, extractor="randconv",
                         batch_size=16, precision="fp32", cost="none", out=tmp_path / "ev", device="cpu", seed=3)
    done = ganctl.evaluate.run(cfg, hooks)
    assert done.path == tmp_path / "ev" / "metrics.json"
    assert json.loads(done.path.read_text()) == json.loads(json.dumps(done.result))
    assert done.result["data"]["name"] == "shapes"  # from the artifact's provenance: data=None
    # 40 samples and 60 reference images for randconv's 256 feature dimensions: one warning, in the file and shown
    assert done.result["warnings"] == [
        "fid40_train_randconv_proxy: 40 generated samples and 60 reference images for 256 feature dimensions; the "
        "FID is biased upward and compares only with FIDs of the same counts (use at least 256)"]
    assert seen["warn"] == [f"warning: {w}" for w in done.result["warnings"]]
    assert seen["note"] == []  # warnings have their own hook (the CLI shows them even with --quiet)
    assert len(seen["header"]) == 1 and seen["header"][0][0] == "1 artifact(s), 32 px"
    row = done.result["artifacts"][0]
    assert row["path"] == str(path) and row["params"] == sum(p.numel() for p in G.parameters())
    # independent check: the same extractor on the hand-generated images and the first 60 reference images
    from ganctl.data import load_data

    ext = build_extractor("randconv", "cpu")
    with torch.no_grad():
        fake = to_uint8(G(make_noise(40, 12, 3)))
    images = load_data("shapes", resolution=32).images
    # the documented reference subset: a seeded (0) permutation's first 60, kept in data order
    real = images[torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[:60].sort().values]
    f = extract_features(ext, [fake], "cpu").features.double().numpy()
    r = extract_features(ext, [real], "cpu").features.double().numpy()
    want = _fid64(f.mean(0), np.cov(f, rowvar=False), r.mean(0), np.cov(r, rowvar=False))
    got = row["metrics"]["fid40_train_randconv_proxy"]["mean"]
    assert got == pytest.approx(want, rel=1e-3, abs=1e-3)
    with pytest.raises(RunDirError, match="metrics.json exists"):
        ganctl.evaluate.run(cfg)
    cfg.force = True
    again = ganctl.evaluate.run(cfg).result["artifacts"][0]["metrics"]["fid40_train_randconv_proxy"]
    assert again["per_seed"] == [got] and again["protocol"]["reference"]["cache_hit"]


def test_run_refuses_bad_requests_before_touching_out(artifact, tmp_path):
    path, _ = artifact
    out = tmp_path / "never"
    for cfg, match in [
        (EvaluateConfig(artifacts=[path], metrics=["fdi"], out=out, device="cpu"), "valid: fid"),
        (EvaluateConfig(artifacts=[], out=out, device="cpu"), "at least one generator"),
        (EvaluateConfig(artifacts=[path], seeds=0, out=out, device="cpu"), "--seeds must be positive"),
        (EvaluateConfig(artifacts=[path], resolution=64, out=out, device="cpu"), "differs from the artifacts' 32"),
        (EvaluateConfig(artifacts=[path], real_only=True, data="shapes", out=out, device="cpu"), "takes no artifacts"),
        (EvaluateConfig(artifacts=[path], cost="some", out=out, device="cpu"), "expected one of"),
    ]:
        with pytest.raises(UsageError, match=match):
            ganctl.evaluate.run(cfg)
    assert not out.exists()


def test_short_names():
    from pathlib import Path

    assert short_names([Path("runs/a/generator.safetensors"), Path("x/a/generator.safetensors")]) == [
        "runs/a", "x/a"]


def test_fid_from_enough_images_or_kid_alone_gives_no_small_sample_warning(artifact, tmp_path, monkeypatch):
    """The warning's threshold is the extractor's feature dimension (randconv: 256), on either side; KID is
    unbiased at any count, so it never warns."""
    monkeypatch.setenv("GANCTL_CACHE", str(tmp_path / "cache"))
    path, _ = artifact
    notes: list[str] = []

    def run(metrics, n, n_ref, out):
        cfg = EvaluateConfig(artifacts=[path], metrics=metrics, num_samples=n, num_reference=n_ref,
                             extractor="randconv", batch_size=64, precision="fp32", cost="none", out=tmp_path / out,
                             device="cpu", seed=0)
        return ganctl.evaluate.run(cfg, EvaluateHooks(warn=notes.append)).result

    assert "warnings" not in run(["fid", "kid"], 256, 256, "enough") and notes == []
    assert "warnings" not in run(["kid"], 20, 30, "kid") and notes == []
    short_ref = run(["fid"], 256, 255, "short_ref")["warnings"]
    assert short_ref == ["fid256_train_randconv_proxy: 255 reference images for 256 feature dimensions; the FID is "
                         "biased upward and compares only with FIDs of the same counts (use at least 256)"]
    assert notes == [f"warning: {short_ref[0]}"]
