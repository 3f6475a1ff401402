"""The whole evaluate path with a stand-in extractor: generation, reference cache, metrics, errors."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch
from evaluate_standins import STANDIN, FakeData, StandinNet, TinyGenerator, fake_data, install_standin

from ganctl.errors import UsageError, WeightsUnavailableError
from ganctl.evaluate.api import EvalRequest, evaluate_artifacts, evaluate_reference
from ganctl.evaluate.extractors import RANDCONV, build_extractor, extract_features, unregister_extractor
from ganctl.evaluate.generate import generate_uint8, make_noise, to_uint8
from ganctl.evaluate.proxy import QualityProxy
from ganctl.evaluate.reference import reference_stats


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANCTL_CACHE", str(tmp_path / "cache"))
    yield
    unregister_extractor(STANDIN)


@pytest.fixture
def standin():
    return install_standin()


def _fid_direct(gen_feats: np.ndarray, ref_feats: np.ndarray) -> float:
    a, b = gen_feats.astype(np.float64), ref_feats.astype(np.float64)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    d = a.mean(0) - b.mean(0)
    return float(d @ d + np.trace(s1) + np.trace(s2) - 2 * np.trace(scipy.linalg.sqrtm(s1 @ s2).real))


def _standin_features(images: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return StandinNet()(images)[0].numpy()


# ---------------------------------------------------------------- generation


def test_to_uint8_rounds_and_clamps():
    x = torch.tensor([-3.0, -1.0, -0.5, 0.0, 0.3, 1.0, 2.0])
    expected = np.clip(np.round((x.numpy() + 1) * 127.5), 0, 255).astype(np.uint8)
    assert to_uint8(x).numpy().tolist() == expected.tolist()


def test_generation_deterministic_and_batch_independent():
    G = TinyGenerator()
    a = generate_uint8(G, 37, seed=3, batch_size=7)
    b = generate_uint8(G, 37, seed=3, batch_size=50)
    c = generate_uint8(G, 37, seed=4, batch_size=50)
    assert a.shape == (37, 3, 8, 8) and a.dtype == torch.uint8
    assert (a.int() - b.int()).abs().max() <= 1 and (a != b).float().mean() < 1e-3
    assert (a != c).any()
    with torch.no_grad():
        direct = to_uint8(G.eval()(make_noise(37, 8, 3)))
    assert torch.equal(a, direct)


def test_generation_restores_train_mode_and_bf16_close():
    G = TinyGenerator().train()
    fp32 = generate_uint8(G, 16, seed=0)
    bf16 = generate_uint8(G, 16, seed=0, precision="bf16")
    assert G.training
    assert (fp32.int() - bf16.int()).abs().float().mean() < 4
    with pytest.raises(UsageError):
        generate_uint8(G, 4, seed=0, precision="fp16")
    with pytest.raises(UsageError):
        generate_uint8(G, 0, seed=0)


# ---------------------------------------------------------------- reference cache


def test_reference_cache_hit_then_miss_after_data_change(standin, tmp_path):
    data = fake_data(60)
    ext = build_extractor(STANDIN)
    first = reference_stats(data, ext, batch_size=16)
    assert not first.record["cache_hit"] and standin.images_seen == 60
    second = reference_stats(data, build_extractor(STANDIN), batch_size=16)
    assert second.record["cache_hit"] and standin.images_seen == 60  # extractor not re-run
    np.testing.assert_array_equal(first.stats.sigma, second.stats.sigma)
    assert second.record["key"] == first.record["key"]
    assert (tmp_path / "cache" / "stats" / f"{first.record['key']}.npz").is_file()
    assert not list((tmp_path / "cache" / "stats").glob("*.tmp"))

    images = fake_data(60).images.clone()
    images[0, 0, 0, 0] ^= 1
    changed = FakeData(images=images)  # one pixel differs: a new fingerprint
    third = reference_stats(changed, ext, batch_size=16)
    assert not third.record["cache_hit"] and third.record["key"] != first.record["key"]
    # fewer reference images is another protocol, hence another key
    fourth = reference_stats(data, ext, num_images=30, batch_size=16)
    assert not fourth.record["cache_hit"] and fourth.record["count"] == 30


def test_reference_values_and_corrupt_cache_recomputed(standin, tmp_path):
    data = fake_data(50)
    ref = reference_stats(data, build_extractor(STANDIN), batch_size=7)
    feats = _standin_features(data.images).astype(np.float64)
    np.testing.assert_allclose(ref.stats.mu, feats.mean(0), rtol=1e-6)
    np.testing.assert_allclose(ref.stats.sigma, np.cov(feats, rowvar=False), rtol=1e-5, atol=1e-9)
    (tmp_path / "cache" / "stats" / f"{ref.record['key']}.npz").write_bytes(b"garbage")
    again = reference_stats(data, build_extractor(STANDIN), batch_size=7)
    assert not again.record["cache_hit"]
    np.testing.assert_allclose(again.stats.mu, ref.stats.mu, rtol=1e-6)


# ---------------------------------------------------------------- evaluate_artifacts


def test_evaluate_values_equal_direct_computation(standin):
    data = fake_data(80)
    G = TinyGenerator()
    out = evaluate_artifacts([("g", G, {"sha256": "abc"})], data,
        EvalRequest(metrics=["fid", "kid", "is", "pr"], num_samples=64, seeds=[0, 1], extractor=STANDIN, device="cpu",
        batch_size=16, cost=True, cost_batch_size=8))
    art = out["artifacts"][0]
    assert set(art["metrics"]) == {"fid64_train_standin-test_proxy", "kid64_train_standin-test_proxy",
                                   "is64_standin-test_proxy", "pr64_train_standin-test_proxy"}
    ref_feats = _standin_features(data.images)
    fids = [_fid_direct(_standin_features(generate_uint8(G, 64, s)), ref_feats) for s in (0, 1)]
    fid = art["metrics"]["fid64_train_standin-test_proxy"]
    np.testing.assert_allclose(fid["per_seed"], fids, rtol=1e-6)
    assert fid["mean"] == pytest.approx(np.mean(fids), rel=1e-6)
    assert fid["std"] == pytest.approx(np.std(fids, ddof=1), rel=1e-5)
    prot = fid["protocol"]
    assert prot["num_samples"] == 64 and prot["seeds"] == [0, 1] and prot["artifact_sha256"] == "abc"
    assert prot["extractor"] == STANDIN and prot["precision"] == "fp32" and prot["batch_size"] == 16
    assert prot["reference"]["count"] == 80 and prot["reference_split"] == "train"
    pr = art["metrics"]["pr64_train_standin-test_proxy"]
    assert 0 <= pr["precision"]["mean"] <= 1 and len(pr["recall"]["per_seed"]) == 2
    assert art["metrics"]["is64_standin-test_proxy"]["mean"] >= 1.0
    cost = art["cost"]
    assert cost["params"] == sum(p.numel() for p in G.parameters()) and cost["macs_per_image"] > 0


def test_evaluate_batch_size_independent(standin):
    data = fake_data(80)
    G = TinyGenerator(seed=1)
    kw = dict(metrics=["fid", "kid"], num_samples=50, seeds=[5], extractor=STANDIN, device="cpu", cost=False)
    small = evaluate_artifacts([("g", G, None)], data, EvalRequest(batch_size=7, **kw))["artifacts"][0]["metrics"]
    large = evaluate_artifacts([("g", G, None)], data, EvalRequest(batch_size=50, **kw))["artifacts"][0]["metrics"]
    for name in small:
        assert small[name]["mean"] == pytest.approx(large[name]["mean"], rel=1e-6, abs=1e-9)


def test_evaluate_runs_extractor_in_strict_fp32(standin):
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    try:
        evaluate_artifacts([("g", TinyGenerator(), None)], fake_data(20),
            EvalRequest(metrics=["fid"], num_samples=20, extractor=STANDIN, device="cpu", cost=False))
        flags = [f for net in standin.built for f in net.tf32_flags]
        assert flags and all(f == (False, False) for f in flags)
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@pytest.mark.parametrize("metrics,num,match", [
    (["fid50k_trian"], None, "unknown metric"),
    (["fdi"], None, "valid: fid, kid, is, pr"),
    (["fid"], 0, "must be positive"),
    (["fid10k_test"], None, "reference set is 'train'"),
    (["fid10k_train"], 5000, "fixes 10000 samples"),
])
def test_bad_metric_requests(standin, metrics, num, match):
    with pytest.raises(UsageError, match=match):
        evaluate_artifacts([("g", TinyGenerator(), None)], fake_data(20),
            EvalRequest(metrics=metrics, num_samples=num, extractor=STANDIN, device="cpu"))


def test_metric_names_carry_protocol(standin):
    out = evaluate_artifacts([("g", TinyGenerator(), None)], fake_data(30),
        EvalRequest(metrics=["fid2k_train", "is2k"], extractor=STANDIN, device="cpu", cost=False, batch_size=500))
    names = set(out["artifacts"][0]["metrics"])
    assert names == {"fid2k_train_standin-test_proxy", "is2k_standin-test_proxy"}


def test_is_with_nan_classifier_is_a_clear_error():
    install_standin(logits_status="nan")
    with pytest.raises(WeightsUnavailableError, match="classification layer"):
        evaluate_artifacts([("g", TinyGenerator(), None)], fake_data(20),
            EvalRequest(metrics=["is"], num_samples=20, extractor=STANDIN, device="cpu"))


# ---------------------------------------------------------------- weights / fallback


@pytest.fixture
def offline_no_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("GANCTL_OFFLINE", "1")
    monkeypatch.delenv("GANCTL_INCEPTION_WEIGHTS", raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))

    def no_network(*a, **k):
        raise AssertionError("a download was attempted while GANCTL_OFFLINE=1")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_network)


def test_missing_weights_offline_is_one_clear_line(offline_no_weights):
    with pytest.raises(WeightsUnavailableError) as err:
        build_extractor("inception-v3-compat")
    msg = str(err.value)
    assert "\n" not in msg
    for needle in ("--inception-weights", "GANCTL_INCEPTION_WEIGHTS", "fid_inception.py"):
        assert needle in msg


def test_auto_falls_back_to_labelled_randconv_proxy(offline_no_weights):
    out = evaluate_artifacts([("g", TinyGenerator(), None)], fake_data(40),
        EvalRequest(metrics=["fid"], num_samples=40, extractor="auto", device="cpu", cost=False))
    assert list(out["artifacts"][0]["metrics"]) == ["fid40_train_randconv_proxy"]
    assert out["protocol"]["extractor"] == RANDCONV and "unavailable" in out["protocol"]["fallback"]
    ref = evaluate_reference(fake_data(40), EvalRequest(extractor="auto", device="cpu"))
    assert ref["reference"]["count"] == 40 and ref["extractor"] == RANDCONV


# ---------------------------------------------------------------- QualityProxy


@pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")  # 8 px: rank-deficient covariance
def test_quality_proxy_matches_direct_fid_and_reuses_reference():
    data = fake_data(200)
    proxy = QualityProxy(data, n_samples=150, extractor=RANDCONV, seed=2, batch_size=16)
    assert proxy.name == "fid150_train_randconv_proxy"
    G = TinyGenerator().train()
    score = proxy.score(G)
    assert G.training
    ext = build_extractor(RANDCONV)
    gen = extract_features(ext, [generate_uint8(G, 150, seed=2)], "cpu").features.numpy()
    keep = torch.randperm(200, generator=torch.Generator().manual_seed(2))[:150].sort().values
    ref = extract_features(ext, [data.images[keep]], "cpu").features.numpy()
    assert score == pytest.approx(_fid_direct(gen, ref), rel=1e-5)
    assert proxy.score(G) == pytest.approx(score, rel=1e-9)
    again = QualityProxy(data, n_samples=150, extractor=RANDCONV, seed=2, batch_size=16)
    assert again.reference.record["cache_hit"]
