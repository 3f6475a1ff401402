"""#12 "the recipe travels": a trained generator records its recipe; compress fine-tuning continues it."""

from __future__ import annotations

import pytest

from ganctl.compress.finetune import FinetuneConfig, from_recipe
from ganctl.compress.run import CompressConfig, Hooks, compress
from ganctl.core.step import GANStep
from ganctl.io.artifact import read_artifact
from ganctl.train.config import resolve_config
from ganctl.train.loop import train


@pytest.fixture(scope="module")
def parent(tmp_path_factory):
    """A tiny parent trained with b_u = 16, lr 3e-4, betas (0.5, 0.99): values no default has."""
    out = tmp_path_factory.mktemp("parent") / "run"
    cfg = resolve_config("tiny", {"width": 8, "d_width": 16, "latent_dim": 12, "batch_size": 8, "steps": 2,
                                  "eval_every": 0, "log_every": 2, "checkpoint_every": 2, "out": str(out),
                                  "device": "cpu", "bound_upper": 16.0, "lr_g": 3e-4, "lr_d": 3e-4,
                                  "beta1": 0.5, "beta2": 0.99})
    train(cfg)
    return out / "generator.safetensors"


def test_the_artifact_records_its_recipe(parent):
    recipe = read_artifact(parent).provenance["recipe"]
    assert recipe["b_u"] == 16.0 and recipe["b_l"] == 0.25 and recipe["loss"] == "mmd"
    assert recipe["lr_g"] == 3e-4 and recipe["betas"] == [0.5, 0.99] and recipe["n_critic"] == 1
    assert recipe["ema_decay"] == 0.99 and recipe["precision"] == "fp32" and recipe["dgl_weight"] is None
    assert recipe["bound_schedule"] == "saturate" and recipe["d_forward"] == "joint"


def _compress(parent, out, monkeypatch, **kw):
    seen: list[tuple[float, float]] = []
    original = GANStep.discriminator_loss

    def spy(self, real, z):
        seen.append((self.b_u, self.opt_d.param_groups[0]["lr"]))
        return original(self, real, z)

    monkeypatch.setattr(GANStep, "discriminator_loss", spy)
    cfg = CompressConfig(artifact=str(parent), out=str(out), rank="2", layers=["cells.0.*"], fit_iters=5,
                         finetune_steps=2, batch_size=8, data="shapes", device="cpu", **kw)
    result = compress(cfg, Hooks(quality=lambda g: 1.0, quality_name="stand_in"))
    return result, seen


def test_compress_finetuning_starts_at_the_parents_bound(parent, tmp_path, monkeypatch):
    result, seen = _compress(parent, tmp_path / "c", monkeypatch)
    assert seen == [(16.0, 3e-4)] * 2
    assert result["finetune"]["b_u"] == 16.0 and result["finetune"]["betas"] == [0.5, 0.99]
    assert {"b_u", "lr", "betas", "loss"} <= set(result["finetune"]["from_parent"])
    prov = read_artifact(tmp_path / "c" / "generator.safetensors").provenance
    assert prov["recipe"]["b_u"] == 16.0 and prov["finetune"]["b_u"] == 16.0


def test_flags_override_the_recipe(parent, tmp_path, monkeypatch):
    result, seen = _compress(parent, tmp_path / "c", monkeypatch, b_u=8.0, lr=1e-4)
    assert seen == [(8.0, 1e-4)] * 2
    assert "b_u" not in result["finetune"]["from_parent"] and "lr" not in result["finetune"]["from_parent"]


def test_a_parent_without_a_recipe_gets_the_defaults():
    cfg, taken = from_recipe({}, steps=3)
    assert taken == [] and (cfg.b_u, cfg.lr, cfg.betas, cfg.loss) == (4.0, 2e-4, (0.0, 0.9), "mmd")
    assert cfg == FinetuneConfig(steps=3)
