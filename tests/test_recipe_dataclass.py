"""The one Recipe dataclass: defaults written once, validation at construction, presets as deltas."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from ganctl.core import losses
from ganctl.errors import UsageError
from ganctl.recipe import DEFAULTS, LEGACY_KEYS, RECIPE_FIELDS, Recipe, apply_preset, upgrade_keys
from ganctl.search.config import SearchConfig
from ganctl.train.config import _LARGE, PRESETS, TrainConfig, resolve_config

ROOT = Path(__file__).resolve().parents[1]


def test_published_defaults():
    # Pulakurthi et al. (2024) §10 / the MMD-GAN bounds: b_l 0.25, initial b_u 4, λ_m 1e-4, Adam 2e-4 (0, 0.9)
    r = Recipe()
    assert (r.bound_lower, r.bound_upper, r.mmd_modified_weight) == (0.25, 4.0, 1e-4)
    assert (r.lr_g, r.lr_d, r.beta1, r.beta2) == (2e-4, 2e-4, 0.0, 0.9)
    assert (r.dgl_weight, r.bound_increment, r.bound_cap, r.precision) == (0.1, 4.0, 64.0, "auto")


def test_stage_configs_take_the_recipe_defaults():
    t = TrainConfig()
    assert isinstance(t, Recipe) and t.recipe() == dataclasses.replace(DEFAULTS, precision="fp32")
    s = SearchConfig()
    assert (s.mmd_bound_lower, s.mmd_bound_upper, s.mmd_modified_weight) == (0.25, 4.0, 1e-4)
    assert (s.lr, s.betas, s.loss, s.precision) == (2e-4, (0.0, 0.9), "mmd", "auto")
    assert losses.BoundSchedule().b_u == 4.0 and losses.BoundSchedule().increment == 4.0


# Stage configs that hold a *resolved* precision ("auto" is resolved for the device before they are built).
RESOLVED_PRECISION = {("ganctl/train/config.py", "TrainConfig"), ("ganctl/compress/finetune.py", "FinetuneConfig")}
LEGACY_NAMES = {"b_l", "b_u", "modified_weight", "mmd_bound_lower", "mmd_bound_upper"}


def test_recipe_literals_are_written_once():
    """No config outside recipe.py spells a recipe default as a literal (None = "not given" is fine)."""
    offenders = []
    for path in sorted((ROOT / "ganctl").rglob("*.py")):
        rel = str(path.relative_to(ROOT))
        if rel == "ganctl/recipe.py":
            continue
        for cls in ast.walk(ast.parse(path.read_text())):
            if not isinstance(cls, ast.ClassDef):
                continue
            for node in cls.body:
                if not (isinstance(node, ast.AnnAssign) and isinstance(node.value, ast.Constant)):
                    continue
                name = getattr(node.target, "id", "")
                if node.value.value is None or name not in RECIPE_FIELDS | LEGACY_NAMES:
                    continue
                if name == "precision" and (rel, cls.name) in RESOLVED_PRECISION:
                    continue
                offenders.append(f"{rel}:{node.lineno} {cls.name}.{name}")
    assert offenders == [], offenders


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"bound_schedule": "cosine"}, "--bound-schedule 'cosine': choose one of"),
        ({"loss": "wgan"}, "--loss 'wgan': choose one of mmd, hinge"),
        ({"precision": "fp16"}, "--precision 'fp16': choose one of auto, fp32, bf16"),
        ({"d_forward": "both"}, "--d-forward 'both'"),
        ({"beta1": 1.0}, "--beta1 1.0: Adam betas must be in [0, 1)"),
        ({"lr_g": float("nan")}, "--lr-g nan: must be a finite number"),
        ({"bound_lower": 5.0}, "need 0 < --bound-lower < --bound-upper <= --bound-cap"),
        ({"bound_increment": 0.0}, "--bound-increment must be positive"),
    ],
)
def test_bad_values_fail_at_construction_naming_the_flag(changes, needle):
    with pytest.raises(UsageError, match=None) as e:
        Recipe(**changes)
    assert needle in str(e.value)
    with pytest.raises(UsageError):
        DEFAULTS.replace(**changes)  # replace validates too
    with pytest.raises(UsageError):
        TrainConfig(**changes)  # and so does every stage config that embeds the recipe


def test_presets_are_deltas():
    """No preset repeats a recipe default (the delta rule), and a preset still resolves every value."""
    for name, table in {"_LARGE": _LARGE, **PRESETS}.items():
        repeated = [k for k, v in table.items() if k in RECIPE_FIELDS and v == getattr(DEFAULTS, k)]
        assert repeated == [], (name, repeated)
    cfg = resolve_config("cifar10-large", {})
    assert (cfg.lr_g, cfg.bound_upper, cfg.d_forward, cfg.ema_warmup, cfg.sparse_every) == (
        2e-4, 4.0, "separate", False, 2000)
    assert apply_preset({"a": 1, "b": 2}, {"b": 3}, {"c": 4}) == {"a": 1, "b": 3, "c": 4}


def test_upgrade_keys_maps_legacy_spellings():
    old = {"width_g": 8, "mmd_bound_upper": 16.0, "lr": 1e-3, "betas": [0.5, 0.99], "extractor": "randconv",
           "seed": 3}
    assert upgrade_keys(old) == {"width": 8, "bound_upper": 16.0, "lr_g": 1e-3, "lr_d": 1e-3, "beta1": 0.5,
                                 "beta2": 0.99, "eval_extractor": "randconv", "seed": 3}
    assert upgrade_keys({"lr": 1e-3, "lr_g": 5e-4})["lr_g"] == 5e-4  # the new spelling wins
    assert set(LEGACY_KEYS) >= {"width_g", "width_d", "mmd_bound_lower", "mmd_bound_upper", "lr", "betas"}
    cfg = TrainConfig.from_dict({"lr": 1e-3, "betas": [0.5, 0.99], "b_u": 8.0})
    assert (cfg.lr_g, cfg.lr_d, cfg.beta1, cfg.beta2, cfg.bound_upper) == (1e-3, 1e-3, 0.5, 0.99, 8.0)
    with pytest.raises(UsageError, match="betas"):
        upgrade_keys({"betas": [0.5]})


def test_record_round_trip_and_v1_records():
    r = Recipe(loss="hinge", bound_upper=8.0, lr_g=1e-3, bound_schedule="linear")
    rec = r.to_record(bound_reached=32.0)
    assert rec["version"] == 2 and rec["bound_reached"] == 32.0 and rec["bound_upper"] == 8.0
    back, reached = Recipe.from_record(rec)
    assert back == r and reached == 32.0
    # i16's v1 record: b_u was the bound reached, b_u_initial the start, betas a list
    v1 = {"version": 1, "loss": "mmd", "b_l": 0.5, "b_u": 16.0, "b_u_initial": 4.0, "bound_schedule": "saturate",
          "bound_cap": 64.0, "mmd_modified_weight": 1e-4, "lr_g": 1e-4, "lr_d": 3e-4, "betas": [0.0, 0.99],
          "n_critic": 2, "ema_decay": 0.999, "dgl_weight": None, "precision": "fp32", "d_forward": "joint",
          "batch_size": 16}
    old, reached = Recipe.from_record(v1)
    assert reached == 16.0 and old.bound_upper == 4.0 and old.bound_lower == 0.5
    assert (old.lr_g, old.lr_d, old.beta2, old.n_critic, old.dgl_weight) == (1e-4, 3e-4, 0.99, 2, 0.1)


def test_saturate_linear_increment_reaches_the_schedule(tmp_path, monkeypatch):
    """--bound-increment was unreachable (always 4); now the flag reaches the run's BoundSchedule."""
    sched = losses.BoundSchedule(mode="saturate-linear", patience=1, increment=2.5)
    assert sched.update(None) == 4.0 + 2.5 and sched.update(None) == 4.0 + 2 * 2.5
    built = []

    class Spy(losses.BoundSchedule):
        def __post_init__(self) -> None:
            built.append(self.increment)
            super().__post_init__()

    monkeypatch.setattr(losses, "BoundSchedule", Spy)
    from ganctl.train.loop import train

    cfg = resolve_config("tiny", {"width": 4, "d_width": 8, "latent_dim": 12, "batch_size": 4, "steps": 1,
                                  "eval_every": 0, "out": str(tmp_path / "run"), "device": "cpu",
                                  "bound_schedule": "saturate-linear", "bound_increment": 2.5})
    train(cfg)
    assert built == [2.5]
