"""#12 "the recipe travels": a trained generator records its recipe; compress fine-tuning continues it."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from ganctl.cli.app import app
from ganctl.compress.finetune import FinetuneConfig, from_record
from ganctl.compress.stage import CompressConfig, Hooks, compress
from ganctl.core.step import GANStep
from ganctl.errors import UsageError
from ganctl.io.artifact import read_artifact, save_generator
from ganctl.models.artifact import load_generator
from ganctl.recipe import Recipe
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
    assert recipe["version"] == 2  # Recipe.to_record: the recipe's own names plus the bound reached
    assert recipe["bound_reached"] == 16.0 and recipe["bound_lower"] == 0.25 and recipe["loss"] == "mmd"
    assert recipe["lr_g"] == 3e-4 and [recipe["beta1"], recipe["beta2"]] == [0.5, 0.99] and recipe["n_critic"] == 1
    assert recipe["ema_decay"] == 0.99 and recipe["precision"] == "fp32" and recipe["dgl_weight"] == 0.1
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
    ft = result["finetune"]
    assert ft["bound_upper"] == 16.0 and [ft["beta1"], ft["beta2"]] == [0.5, 0.99]
    assert {"bound_upper", "lr_g", "beta1", "loss"} <= set(ft["from_parent"])
    prov = read_artifact(tmp_path / "c" / "generator.safetensors").provenance
    assert prov["recipe"]["bound_reached"] == 16.0 and prov["finetune"]["bound_upper"] == 16.0


def test_flags_override_the_recipe(parent, tmp_path, monkeypatch):
    result, seen = _compress(parent, tmp_path / "c", monkeypatch, bound_upper=8.0, lr_g=1e-4, lr_d=1e-4)
    assert seen == [(8.0, 1e-4)] * 2
    assert "bound_upper" not in result["finetune"]["from_parent"] and "lr_d" not in result["finetune"]["from_parent"]


def test_a_parent_without_a_recipe_gets_the_defaults():
    cfg, taken = from_record({}, steps=3)
    assert taken == []
    assert (cfg.bound_upper, cfg.lr_g, (cfg.beta1, cfg.beta2), cfg.loss) == (4.0, 2e-4, (0.0, 0.9), "mmd")
    assert cfg == FinetuneConfig(steps=3)


def test_finetuning_starts_at_the_bound_reached_not_the_initial_one():
    """A v2 record whose schedule climbed from 4 to 16: fine-tuning starts at 16, not 4, and takes λ_m and
    n_critic from the record too."""
    rec = Recipe(bound_upper=4.0, bound_cap=16.0, mmd_modified_weight=3e-4, n_critic=2).to_record(bound_reached=16.0)
    cfg, taken = from_record(rec, steps=2)
    assert (cfg.bound_upper, cfg.mmd_modified_weight, cfg.n_critic) == (16.0, 3e-4, 2)
    assert {"bound_upper", "mmd_modified_weight", "n_critic"} <= set(taken) and "precision" not in taken
    assert cfg.precision == "fp32"  # never inherited: it depends on the machine
    cfg, taken = from_record(rec, {"bound_upper": 6.0, "lr_g": None}, steps=2)
    assert cfg.bound_upper == 6.0 and "bound_upper" not in taken and "lr_g" in taken
    cfg, _ = from_record({**rec, "bound_reached": 100.0}, steps=2)
    assert cfg.bound_upper == 100.0 <= cfg.bound_cap  # a bound past the recorded cap is still valid


def test_a_v1_record_still_gives_the_bound_reached():
    v1 = {"version": 1, "loss": "mmd", "b_l": 0.25, "b_u": 12.0, "b_u_initial": 4.0, "lr_g": 3e-4, "lr_d": 3e-4,
          "betas": [0.5, 0.99], "dgl_weight": None, "precision": "bf16", "batch_size": 8}
    cfg, taken = from_record(v1, steps=1)
    assert (cfg.bound_upper, cfg.lr_g, cfg.beta1, cfg.beta2, cfg.dgl_weight) == (12.0, 3e-4, 0.5, 0.99, 0.1)
    assert "dgl_weight" not in taken and cfg.precision == "fp32"


def test_compress_config_takes_recipe_names_and_the_old_ones():
    new = CompressConfig(artifact="a", out="o", bound_upper=8.0, lr_g=1e-4, lr_d=1e-4, eval_extractor="randconv")
    old = CompressConfig(artifact="a", out="o", b_u=8.0, lr=1e-4, extractor="randconv")
    assert new == old and new.recipe_overrides()["bound_upper"] == 8.0
    legacy = {"artifact": "a", "out": "o", "b_u": 8.0, "lr": 1e-4, "extractor": "randconv"}
    assert CompressConfig.from_dict(legacy) == new
    assert CompressConfig(artifact="a", out="o", lr=1e-4, lr_d=5e-5).lr_d == 5e-5  # the recipe's name wins


def test_compress_finetuning_starts_from_a_v2_record_bound_reached(parent, tmp_path, monkeypatch):
    """The parent's schedule climbed from its initial b_u = 4 to 12 (a v2 record): fine-tuning runs at 12,
    with the record's λ_m, and the compressed artifact records what fine-tuning ran."""
    G, info = load_generator(parent)
    record = Recipe(bound_upper=4.0, bound_cap=16.0, mmd_modified_weight=2e-4, lr_g=3e-4, lr_d=1e-4
                    ).to_record(bound_reached=12.0)
    climbed = tmp_path / "climbed" / "generator.safetensors"
    climbed.parent.mkdir()
    save_generator(climbed, G, {**info.provenance, "recipe": record})
    seen_lambda: list[float] = []
    original = GANStep.discriminator_loss
    monkeypatch.setattr(GANStep, "discriminator_loss",
                        lambda self, real, z: seen_lambda.append(self.modified_weight) or original(self, real, z))
    result, seen = _compress(climbed, tmp_path / "c", monkeypatch)
    assert [b for b, _ in seen] == [12.0, 12.0] and seen_lambda == [2e-4, 2e-4]
    assert [lr for _, lr in seen] == [1e-4, 1e-4]  # D's own rate, not G's
    prov = read_artifact(tmp_path / "c" / "generator.safetensors").provenance
    assert prov["finetune"]["bound_upper"] == 12.0 and prov["recipe"]["bound_reached"] == 12.0
    assert Recipe.from_record(prov["recipe"])[0].mmd_modified_weight == 2e-4


def test_compress_config_file_and_flags_use_the_recipe_names(tmp_path):
    """A --config file may spell the fine-tune's recipe by the recipe's names or the old ones; the flags too."""
    runner = CliRunner()
    for text in ('{"bound_upper": 8.0, "lr_g": 1e-4, "lr_d": 1e-4, "eval_extractor": "randconv"}',
                 '{"b_u": 8.0, "lr": 1e-4, "extractor": "randconv"}'):
        cfg = tmp_path / "c.json"
        cfg.write_text(text)
        res = runner.invoke(app, ["compress", "a.safetensors", "--out", "o", "--config", str(cfg), "--print-config"])
        assert res.exit_code == 0, res.output
        got = json.loads(res.stdout)
        assert (got["bound_upper"], got["lr_g"], got["lr_d"], got["eval_extractor"]) == (8.0, 1e-4, 1e-4, "randconv")
        assert not {"b_u", "lr", "extractor"} & set(got)
    res = runner.invoke(app, ["compress", "a.safetensors", "--out", "o", "--lr", "3e-4", "--lr-d", "1e-4",
                              "--bound-lower", "0.5", "--precision", "fp32", "--print-config"])
    got = json.loads(res.stdout)
    assert (got["lr_g"], got["lr_d"], got["bound_lower"], got["precision"]) == (3e-4, 1e-4, 0.5, "fp32")


def test_a_bad_recipe_override_fails_before_the_run_folder(parent, tmp_path):
    out = tmp_path / "c"
    with pytest.raises(UsageError, match="--bound-lower"):
        compress(CompressConfig(artifact=str(parent), out=str(out), rank="2", layers=["cells.0.*"], fit_iters=5,
                                finetune_steps=2, batch_size=8, data="shapes", device="cpu", bound_lower=32.0),
                 Hooks(quality=lambda g: 1.0, quality_name="stand_in"))
    assert not out.exists()


def test_the_cli_and_the_api_resolve_trainings_auto_precision_the_same_way(tmp_path):
    """One resolver (train.config.training_precision) for `ganctl train` and `ganctl.train`: "auto" or nothing
    becomes the device's precision (fp32 on the CPU), an explicit choice is kept for TrainConfig to check."""
    from ganctl.runtime import resolve_precision
    from ganctl.train.config import from_flags, training_precision

    cpu = resolve_precision("auto", "cpu")
    assert cpu == "fp32"
    assert [training_precision({"device": "cpu", **p}) for p in ({}, {"precision": "auto"}, {"precision": None})] \
        == [cpu] * 3
    assert training_precision({"device": "cpu", "precision": "bf16"}) == "bf16"
    cfg = from_flags({"out": str(tmp_path / "r"), "device": "cpu", "precision": "auto"}, preset="tiny", resume=None,
                     allow_change=[], preset_given=True, need_out=True)
    assert cfg.precision == cpu
    with pytest.raises(UsageError, match="precision"):
        from_flags({"out": str(tmp_path / "r"), "device": "cpu", "precision": "fp16"}, preset="tiny", resume=None,
                   allow_change=[], preset_given=True, need_out=True)
