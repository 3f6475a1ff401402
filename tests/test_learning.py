"""It learns: a deterministic tiny CPU run on the built-in `sprites` data ends far below where it started
and below matched noise, on the same in-loop metric, scored independently of the loop."""
from __future__ import annotations

import json

import pytest
import torch

from ganctl.evaluate.baselines import matched_noise
from ganctl.evaluate.extractors import extract_features
from ganctl.evaluate.proxy import QualityProxy
from ganctl.evaluate.reference import reference_indices
from ganctl.evaluate.stats import feature_stats, frechet_distance
from ganctl.models.artifact import load_generator
from ganctl.runtime import derive_seed
from ganctl.train.config import resolve_config
from ganctl.train.loop import build_models, train

STEPS = 600  # the `tiny` preset's model, batch and optimiser, a shorter run (38 k images); a few CPU-minutes
FRACTION = 0.25  # the final score must be below this fraction of the untrained generator's


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("learn") / "run"
    cfg = resolve_config("tiny", {"steps": STEPS, "eval_every": STEPS, "eval_samples": 128,
                                  "eval_extractor": "randconv", "log_every": STEPS, "checkpoint_every": STEPS,
                                  "sample_every": STEPS, "device": "cpu", "deterministic": True, "out": str(out)})
    train(cfg)
    return cfg, out


@pytest.mark.slow
def test_tiny_run_learns_sprites(run):
    cfg, out = run
    from ganctl.data import load_data

    data = load_data("sprites", resolution=cfg.resolution, seed=cfg.seed)
    seed = derive_seed(cfg.seed, "eval") % (1 << 31)
    proxy = QualityProxy(data, n_samples=cfg.eval_samples, extractor="randconv", seed=seed, device="cpu")
    untrained, _ = build_models(cfg)  # the generator at step 0 (same init seed as the run)
    trained, _ = load_generator(out / "generator.safetensors")
    start, end = proxy.score(untrained), proxy.score(trained)
    rows = [json.loads(line) for line in (out / "stats.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == STEPS and rows[-1]["proxy"] == pytest.approx(end, rel=1e-5)
    ref = data.images[reference_indices(len(data), cfg.eval_samples, seed)]
    noise = matched_noise(ref, cfg.eval_samples, seed=1)
    feats = extract_features(proxy.extractor, [noise], "cpu").features
    ceiling = frechet_distance(feature_stats(feats), proxy.reference.stats)
    print(f"step 0 {start:.4f}  step {STEPS} {end:.4f}  matched noise {ceiling:.4f}")
    assert end < FRACTION * start, (start, end)
    assert end < ceiling, (end, ceiling)


def test_matched_noise_has_the_data_statistics():
    gen = torch.Generator().manual_seed(0)
    images = (64 + torch.randint(0, 128, (500, 3, 4, 4), generator=gen)).to(torch.uint8)
    images[:, 0] = 40 + images[:, 0] // 4  # a dim, narrow red channel: per-pixel statistics differ
    noise = matched_noise(images, 20_000, seed=3).double()
    x = images.double()
    assert noise.dtype == torch.float64 and noise.shape == (20_000, 3, 4, 4)
    assert torch.allclose(noise.mean(0), x.mean(0), atol=1.0)  # standard error ≈ 37 / sqrt(20k) ≈ 0.26
    assert torch.allclose(noise.std(0), x.std(0, unbiased=False), rtol=0.03)
