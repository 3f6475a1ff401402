"""Search configuration: one dataclass, presets as plain tables, overrides by flag (methods §4).

A preset fills every field; flags replace single values. The resolved config is what
`config.json` holds and what `--resume` restores (only runtime keys may change on resume).
"""
from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ganctl.errors import UsageError
from ganctl.io.configfile import load_saved_config, refuse_changed
from ganctl.models import limits
from ganctl.nn.activations import ACTIVATIONS
from ganctl.nn.ops import UP_OPS
from ganctl.recipe import LOSSES, Recipe, flag, layered, upgrade_keys, upgrade_saved

METHODS = ("adversarialnas", "alphagan")
D_TOPOLOGIES = ("stem", "paper")
# Keys that never change the maths, so a resume may take new values for them.
RUNTIME_KEYS = frozenset({"out", "device", "budget_s", "log_every", "checkpoint_every", "compile",
                          "precision", "channels_last"})


@dataclass(kw_only=True)
class SearchConfig(Recipe):
    """Every effective value of a search run (what config.json records): the recipe plus search's own fields.

    The weight steps use the recipe's loss, bounds, λ_m, n_critic and Adam settings; the architecture
    steps have their own (`arch_*`). Old spellings (`width_g`, `mmd_bound_upper`, `lr`, `betas`, ...) are
    read through `recipe.upgrade_keys` and still readable as properties.
    """

    method: str = "adversarialnas"
    preset: str = "tiny"
    data: str = "shapes"
    data_root: str | None = None
    max_images: int | None = None
    out: str = ""
    resolution: int = 16
    width: int = 8                # G supernet width (older configs: width_g)
    d_width: int = 8              # D supernet width (older configs: width_d)
    latent_dim: int = 12
    d_out_dim: int = 16           # MMD needs a vector output; hinge uses its mean
    batch_size: int = 8
    steps: int = 6                # iterations (one D update each; G every n_critic / one inner step)
    gumbel: bool = True           # Gumbel-softmax on the logits (else plain softmax)
    tau_start: float = 5.0
    tau_end: float = 0.1
    arch_loss: str | None = None  # None: the same as `loss`
    arch_lr: float = 3e-4
    arch_betas: tuple[float, float] = (0.5, 0.999)
    arch_weight_decay: float = 1e-4
    alpha_init_std: float = 1e-3
    # where the seed paper's search (Pulakurthi et al., MMD-PMish-NAS) differs; see the "paper" preset
    act_g: str = "relu"           # activation of the search G (the paper's code: pmish)
    up_ops: list[str] | None = None  # searched up ops; None: all of UP_OPS (the paper's code: 3, no deconv)
    split_batch: bool = False     # halves of each batch: one for the architecture step, one for the weights
    d_topology: str = "stem"      # stem: 3×3 stem + 2 down + 2 normal cells; paper: 4 down cells, no stem
    tau_epoch_steps: int | None = None  # τ held constant over epochs of this many steps (paper: per epoch)
    # alphaGAN schedule
    inner_steps: int = 2
    outer_steps: int = 1
    worst_steps: int = 2
    val_fraction: float = 0.5
    # run control
    derive_every: int = 3
    checkpoint_every: int = 3
    log_every: int = 1
    budget_s: float | None = None
    seed: int = 0
    device: str = "auto"
    channels_last: bool = True    # only applied on CUDA
    compile: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()  # the recipe's checks
        validate(self)  # search's own: a config that exists is valid

    def effective_arch_loss(self) -> str:
        return self.arch_loss or self.loss

    # read-only spellings of earlier ganctl versions (the API and scripts may still read them)
    width_g = property(lambda self: self.width)
    width_d = property(lambda self: self.d_width)
    mmd_bound_lower = property(lambda self: self.bound_lower)
    mmd_bound_upper = property(lambda self: self.bound_upper)
    lr = property(lambda self: self.lr_g)
    betas = property(lambda self: (self.beta1, self.beta2))

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["arch_betas"] = list(self.arch_betas)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchConfig:
        data = upgrade_keys(data)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UsageError(f"search config has unknown keys: {', '.join(unknown)}")
        data = dict(data)
        if "arch_betas" in data:
            data["arch_betas"] = tuple(float(v) for v in data["arch_betas"])
        if data.get("up_ops") is not None:
            data["up_ops"] = [str(v) for v in data["up_ops"]]
        return cls(**data)


# AdversarialNAS's published search (scripts/search_arch_cifar10.sh): gen/dis batch 120, gf_dim 160,
# df_dim 80, latent 120, bottom width 4, n_critic 5, Gumbel-softmax, 5 G-epochs over CIFAR-10
# (5 × ⌈50000/120⌉ = 2085 G steps, i.e. 10425 D iterations). alphaGAN: 20/20/20 inner/worst/outer.
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "cifar10": {
        "adversarialnas": dict(resolution=32, width=160, d_width=80, latent_dim=120, batch_size=120,
                               steps=10425, n_critic=5, gumbel=True, derive_every=417, checkpoint_every=500,
                               log_every=25),
        "alphagan": dict(resolution=32, width=160, d_width=80, latent_dim=120, batch_size=64, steps=2000,
                         n_critic=1, gumbel=False, loss="hinge", inner_steps=20, outer_steps=20,
                         worst_steps=20,
                         derive_every=200, checkpoint_every=200, log_every=20, d_out_dim=1),
    },
    # The seed paper's search as its public code runs it (reference-facts §4): batch 128, n_critic 5,
    # max_epoch_G 25 -> 125 D-epochs of 391 batches, the first one only derives (124 × 391 = 48,484
    # D iterations), PMish in the search G, halves of each batch for the architecture and the weight
    # steps, the hinge loss as the architecture objective while the weights train with MMD, τ per
    # epoch, 3 up ops (its ConvTranspose has no α column), and a search D of 4 downsampling cells
    # without a stem. ganctl's "cifar10" preset keeps AdversarialNAS's schedule, ReLU, one batch per
    # step for both levels, the consistent MMD architecture objective and all 4 up ops.
    "paper": {
        "adversarialnas": dict(resolution=32, width=160, d_width=80, latent_dim=120, batch_size=128,
                               steps=124 * 391, n_critic=5, gumbel=True, loss="mmd", arch_loss="hinge",
                               act_g="pmish", up_ops=["nearest", "bilinear", "bicubic"], split_batch=True,
                               d_topology="paper", tau_epoch_steps=391, derive_every=391,
                               checkpoint_every=391, log_every=50),
    },
    "tiny": {
        "adversarialnas": dict(resolution=16, width=8, d_width=8, latent_dim=12, batch_size=8, steps=6,
                               n_critic=1, gumbel=True, derive_every=3, checkpoint_every=3, log_every=1,
                               max_images=256),
        "alphagan": dict(resolution=16, width=8, d_width=8, latent_dim=12, batch_size=8, steps=4,
                         n_critic=1, gumbel=False, loss="hinge", inner_steps=2, outer_steps=1, worst_steps=2,
                         derive_every=2, checkpoint_every=2, log_every=1, max_images=256, d_out_dim=1),
    },
}


def make_config(method: str, preset: str, **overrides: Any) -> SearchConfig:
    """Resolve preset + overrides (None values mean 'not given') into a validated config."""
    if method not in METHODS:
        raise UsageError(f"--method {method!r}: unknown search method (choose {', '.join(METHODS)})")
    if preset not in PRESETS:
        raise UsageError(f"--preset {preset!r}: unknown preset (choose {', '.join(PRESETS)})")
    if method not in PRESETS[preset]:
        raise UsageError(f"--preset {preset!r} is for --method {', '.join(PRESETS[preset])} only")
    values: dict[str, Any] = {"method": method, "preset": preset, **PRESETS[preset][method]}
    values.update({k: v for k, v in upgrade_keys(overrides).items() if v is not None})
    return SearchConfig.from_dict(values)


def validate(cfg: SearchConfig) -> None:
    """Search's own checks; the recipe's fields were checked when the config was built (Recipe.__post_init__)."""
    limits.check_finite_numbers(cfg.to_dict())  # sizes, finiteness, seed and betas: one validator for every stage
    for name, old in (("width", "width_g"), ("d_width", "width_d")):  # the user may have typed the old spelling
        try:
            limits.check_sizes({name: getattr(cfg, name)})
        except UsageError as e:
            raise UsageError(f"{e} ({flag(old)} is the same flag)") from None
    limits.check_sizes(cfg.to_dict())
    limits.check_seed(cfg.seed)
    limits.check_betas(*cfg.arch_betas, name="arch-beta")
    if cfg.method not in METHODS:
        raise UsageError(f"--method {cfg.method!r}: unknown search method (choose {', '.join(METHODS)})")
    if cfg.effective_arch_loss() not in LOSSES:
        raise UsageError(f"--arch-loss {cfg.effective_arch_loss()!r}: unknown loss (choose {', '.join(LOSSES)})")
    if cfg.method == "alphagan" and cfg.loss != "hinge":
        raise UsageError("alphagan's duality gap is defined on the hinge objective; use --loss hinge")
    if cfg.resolution < 16 or cfg.resolution % 8:
        raise UsageError(f"resolution {cfg.resolution} must be a multiple of 8, at least 16")
    if cfg.latent_dim % 3:
        raise UsageError(f"latent_dim {cfg.latent_dim} must split into 3 equal chunks (one per cell)")
    for name in ("steps", "batch_size", "width", "d_width", "inner_steps", "outer_steps",
                 "worst_steps", "derive_every", "checkpoint_every", "log_every"):
        if getattr(cfg, name) < 1:
            raise UsageError(f"{name} must be at least 1, got {getattr(cfg, name)}")
    if cfg.batch_size < 2 and "mmd" in (cfg.loss, cfg.effective_arch_loss()):
        raise UsageError("the MMD loss needs a batch size of at least 2")
    if not 0.0 < cfg.val_fraction < 1.0:
        raise UsageError(f"val_fraction must be in (0, 1), got {cfg.val_fraction}")
    if not (cfg.tau_start > 0 and cfg.tau_end > 0):
        raise UsageError("Gumbel temperatures must be positive")
    if cfg.act_g not in ACTIVATIONS:
        raise UsageError(f"act_g {cfg.act_g!r}: choose one of {', '.join(ACTIVATIONS)}")
    if cfg.up_ops is not None and (not cfg.up_ops or any(op not in UP_OPS for op in cfg.up_ops)):
        raise UsageError(f"up_ops {cfg.up_ops!r}: a non-empty list from {', '.join(UP_OPS)}")
    if cfg.d_topology not in D_TOPOLOGIES:
        raise UsageError(f"d_topology {cfg.d_topology!r}: choose {', '.join(D_TOPOLOGIES)}")
    if cfg.d_topology == "paper" and cfg.resolution >> 4 < 1:
        raise UsageError(f"the paper's search D halves the resolution 4 times; {cfg.resolution} px is too small")
    if cfg.split_batch and cfg.batch_size < 4:
        raise UsageError("split_batch needs a batch size of at least 4 (two halves of at least 2)")
    if cfg.tau_epoch_steps is not None and cfg.tau_epoch_steps < 1:
        raise UsageError(f"tau_epoch_steps must be at least 1, got {cfg.tau_epoch_steps}")
    if cfg.budget_s is not None and cfg.budget_s <= 0:
        raise UsageError(f"--budget must be positive, got {cfg.budget_s} s")


_BUDGET = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$", re.IGNORECASE)
_UNIT_S = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_budget(text: str | None) -> float | None:
    """'90', '90s', '30m', '1.5h', '1d' → seconds; None stays None."""
    if text is None:
        return None
    match = _BUDGET.match(str(text))
    if not match or float(match.group(1)) <= 0:
        raise UsageError(f"--budget {text!r}: expected a positive duration like 90s, 30m or 1.5h")
    return float(match.group(1)) * _UNIT_S[match.group(2).lower()]


def load_saved(out: str) -> dict[str, Any]:
    """A search run's config.json, checked and validated (exit 3 naming the file when it is not right);
    one written before search embedded the recipe (`width_g`, `mmd_bound_upper`, `lr`, ...) is upgraded."""
    return load_saved_config(out, SearchConfig, validate, upgrade=upgrade_saved)


def check_resume_flags(cfg: SearchConfig, typed: Iterable[str]) -> None:
    """A resumed search continues the saved run, so a typed flag that differs from it would be silently
    ignored: refuse it instead (runtime keys such as --device and --budget may change)."""
    saved = load_saved(cfg.out)
    now = json.loads(json.dumps(cfg.to_dict()))  # tuples as the saved JSON holds them
    refuse_changed(saved, now, set(typed) & set(now) - RUNTIME_KEYS,
                   "drop them to continue the saved run, or start over with --force")


def from_flags(file_values: dict[str, Any], typed: dict[str, Any], given: set[str], *, method: str, preset: str,
               resume: bool, need_out: bool) -> SearchConfig:
    """The config a `search` invocation means: preset < --config file < typed flags (`given` names them);
    data, device and seed keep their flag defaults otherwise. A resume refuses typed flags that differ
    from the saved run."""
    values = {k: typed[k] for k in ("data", "device", "seed")}
    values.update(layered(file_values, typed, given))
    chosen_method = values.pop("method", None) or method
    chosen_preset = values.pop("preset", None) or preset
    if not values.get("out") and need_out:
        raise UsageError("--out DIR is required")
    values["out"] = values.get("out") or ""
    cfg = make_config(chosen_method, chosen_preset, **values)
    if resume and need_out:
        check_resume_flags(cfg, given)
    return cfg
