"""The in-loop metric of `ganctl train --metric`: real FID/KID path (with the stand-in network registered
as the Inception), fallback to the labelled proxy, and a bound schedule that noise cannot move."""
from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.linalg
import torch
from evaluate_standins import StandinNet, TinyGenerator, fake_data, install_standin
from typer.testing import CliRunner

from ganctl.cli.app import app
from ganctl.core.losses import BoundSchedule
from ganctl.errors import InputFileError, UsageError
from ganctl.evaluate.extractors import INCEPTION, _inception_factory, register_extractor
from ganctl.evaluate.generate import make_noise, to_uint8
from ganctl.evaluate.protocol import MetricRequest
from ganctl.evaluate.reference import reference_indices
from ganctl.io.artifact import read_artifact
from ganctl.models.artifact import load_generator
from ganctl.runtime import derive_seed
from ganctl.train.metrics import InceptionMetric, ScheduleGate, build_train_metric, parse_train_metric


@pytest.fixture
def standin_inception(tmp_path, monkeypatch):
    """The stand-in network answers for the Inception; a placeholder file stands in for its weights."""
    reg = install_standin()
    register_extractor(INCEPTION, reg.factory)
    weights = tmp_path / "pt_inception.pth"
    weights.write_bytes(b"placeholder: the stand-in factory reads no weights")
    monkeypatch.setenv("GANCTL_INCEPTION_WEIGHTS", str(weights))
    yield weights
    register_extractor(INCEPTION, _inception_factory)


def _fid64(a: np.ndarray, b: np.ndarray) -> float:
    """Textbook FID in float64 with scipy's sqrtm (independent of ganctl.evaluate.stats)."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s_a @ s_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a + s_b - 2 * covmean))


def test_parse_train_metric():
    assert parse_train_metric("proxy") is None
    assert parse_train_metric("fid10k_train") == MetricRequest("fid", 10_000, "train")
    assert parse_train_metric("kid500") == MetricRequest("kid", 500, "train")
    for bad in ("is10k", "pr1k_train", "fid10k_test", "fdi"):
        with pytest.raises(UsageError):
            parse_train_metric(bad)


def test_unchanged_generator_never_advances_the_schedule(standin_inception):
    data = fake_data(200, res=8)
    metric = InceptionMetric(MetricRequest("fid", 64, "train"), data, weights=None, seed=5,
                             device=torch.device("cpu"))
    G = TinyGenerator(seed=1)
    bound = BoundSchedule(mode="saturate", initial=4.0, cap=64.0, patience=2, factor=2.0)
    gate = ScheduleGate()
    scores = []
    for _ in range(6):
        scores.append(metric.score(G))
        if gate.should_update(G):
            bound.update(scores[-1])
    assert len(set(scores)) == 1, "fixed noise: an unchanged generator scores the same every time"
    assert bound.counter == 0 and bound.b_u == 4.0 and bound.updates == 1
    # fresh noise each time (what the fixed set avoids) does scatter the score of the same generator
    fresh = {InceptionMetric(MetricRequest("fid", 64, "train"), data, weights=None, seed=s,
                             device=torch.device("cpu")).score(G) for s in range(4)}
    assert len(fresh) == 4
    # a generator that did change is judged: equal-or-worse now counts, and patience 2 raises b_u
    for _ in range(2):
        with torch.no_grad():
            G.out.bias.add_(0.5)
        assert gate.should_update(G)
        bound.update(metric.score(G))
    assert bound.b_u == 8.0


def test_kid_metric_matches_independent_features(standin_inception):
    data = fake_data(120, res=8)
    metric = InceptionMetric(MetricRequest("kid", 40, "train"), data, weights=None, seed=3,
                             device=torch.device("cpu"))
    assert metric.name == "kid40_train" and not metric.is_proxy
    value = metric.score(TinyGenerator(seed=2))
    assert np.isfinite(value) and value > 0


def test_missing_weights_file_is_an_error_and_offline_falls_back(tmp_path, monkeypatch):
    data = fake_data(80, res=8)
    kw = dict(eval_samples=16, eval_extractor="randconv", seed=0, device=torch.device("cpu"), precision="fp32")
    with pytest.raises(InputFileError):
        build_train_metric("fid1k_train", data, weights=str(tmp_path / "absent.pth"), **kw)
    monkeypatch.delenv("GANCTL_INCEPTION_WEIGHTS", raising=False)
    monkeypatch.setenv("GANCTL_OFFLINE", "1")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    choice = build_train_metric("fid1k_train", data, weights=None, **kw)
    assert choice.is_proxy and choice.name == "fid16_train_randconv_proxy"
    assert "fid1k_train unavailable" in choice.note and "proxy" in choice.note


def test_train_follows_the_requested_fid(standin_inception, tmp_path):
    out = tmp_path / "run"
    r = CliRunner().invoke(app, [
        "train", "--preset", "tiny", "--data", "sprites", "--width", "8", "--d-width", "16", "--batch-size", "8",
        "--device", "cpu", "--quiet", "--out", str(out), "--steps", "4", "--eval-every", "2",
        "--metric", "fid100_train", "--log-every", "2", "--checkpoint-every", "2"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in (out / "stats.jsonl").read_text().splitlines()]
    evals = [row for row in rows if "metric" in row]
    assert [row["step"] for row in evals] == [2, 4]
    assert all(row["metric_name"] == "fid100_train" and row["metric_is_proxy"] is False for row in evals)
    assert all("proxy" not in row for row in evals), "a real FID is never logged under the proxy key"
    best = read_artifact(out / "best_generator.safetensors").provenance
    assert best["proxy"] is False and best["proxy_metric"] == "fid100_train"
    assert best["proxy_value"] == min(row["metric"] for row in evals)
    # the last logged value, recomputed independently from the saved EMA generator at step 4
    cfg = json.loads((out / "config.json").read_text())
    G, _ = load_generator(out / "generator.safetensors")
    from ganctl.data import load_data

    data = load_data("sprites", resolution=cfg["resolution"], seed=0)
    seed = derive_seed(cfg["seed"], "eval") % (1 << 31)
    net = StandinNet()
    with torch.no_grad():
        G.eval()
        fake = torch.cat([to_uint8(G(z)) for z in make_noise(100, G.latent_dim, seed).split(50)])
        real = data.images[reference_indices(len(data), 100, seed)]
        f_fake, f_real = (net(x)[0].double().numpy() for x in (fake, real))
    assert evals[-1]["metric"] == pytest.approx(_fid64(f_fake, f_real), rel=1e-4, abs=1e-6)


def test_cli_fails_fast_on_a_bad_metric_or_missing_weights(tmp_path):
    base = ["train", "--preset", "tiny", "--device", "cpu", "--quiet", "--steps", "2"]
    r = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "a"), "--metric", "is10k"])
    assert r.exit_code == 2 and "is10k" in r.output
    missing = tmp_path / "absent.pth"
    r = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "b"), "--metric", "fid1k_train",
                                 "--inception-weights", str(missing)])
    assert r.exit_code == 3 and str(missing) in r.output and "not found" in r.output
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists(), "nothing written before the check"
