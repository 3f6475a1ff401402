"""Training configuration: one dataclass, presets as plain tables, overrides by flag.

A preset fills every field; flags replace single values. The resolved config is what
`config.json` holds and what a resume compares against (methods §10 gives the recipe).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganctl.errors import UsageError
from ganctl.io.configfile import load_saved_config
from ganctl.recipe import (  # noqa: F401 - the choice tuples are re-exported for train's callers
    AUTO,
    BOUND_SCHEDULES,
    COMPILE_MODES,
    D_FORWARDS,
    D_REGROW,
    DEFAULTS,
    LOSSES,
    PRECISIONS,
    Recipe,
    apply_preset,
    upgrade_keys,
)

D_NORMS = ("sn", "bssn")
DEFAULT_PRESET = "cifar10-large"  # the paper's 20 M-parameter recipe (methods §10)
NO_DECAY = 1.0  # lr_decay_start that never starts: constant rates

# Keys that never change the maths, so a resume may change them without --allow-change.
RUNTIME_KEYS = frozenset(
    {
        "out",
        "device",
        "compile",
        "compile_mode",
        "log_every",
        "checkpoint_every",
        "sample_every",
        "eval_extractor",
        "inception_weights",
        "data_root",
    }
)
# Keys a resume may change when listed in --allow-change (anything else changes the run's identity).


@dataclass(kw_only=True)
class TrainConfig(Recipe):
    """Every effective value of a training run (what config.json records): the recipe plus train's own fields."""

    preset: str = "tiny"
    data: str = "shapes"
    data_root: str | None = None
    genotype: str = "mmd-adversarialnas-cifar10"
    out: str = ""
    resolution: int = 32
    width: int = 16
    d_width: int = 32
    latent_dim: int = 24
    activation: str = "pmish"
    d_norm: str = "sn"
    bssn_scale: float = 1.0
    d_out_dim: int = 16
    batch_size: int = 16
    steps: int | None = 20
    epochs: float | None = None
    eval_every: int | None = 10  # steps; None -> eval_every_epochs; 0 disables
    eval_every_epochs: float | None = None
    eval_samples: int = 64
    eval_extractor: str = "auto"
    metric: str = "proxy"  # what drives the bound schedule and the best snapshot: proxy | fidN | kidN
    inception_weights: str | None = None  # FID Inception weights file (else $GANCTL_INCEPTION_WEIGHTS / cache)
    log_every: int = 5
    checkpoint_every: int = 10
    sample_every: int | None = None  # None -> same as the eval interval (or checkpoints when eval is off)
    grid_size: int = 16
    flip: bool = True
    seed: int = 0
    # train's config holds a resolved precision (the CLI resolves "auto" for the device), the one delta here
    precision: str = "fp32"
    compile: bool | None = None  # None: on for CUDA, off on the CPU (resolved when the run starts)
    compile_mode: str = "default"  # see ganctl.core.optim.COMPILE_MODES
    channels_last: bool = True
    deterministic: bool = False
    device: str = "auto"
    teacher_d: str | None = None
    # from this fraction of the run both rates fall linearly to 0; 1 (NO_DECAY) keeps them constant, the paper's
    # recipe (older config.json files wrote null for that, read as 1)
    lr_decay_start: float | None = NO_DECAY

    def __post_init__(self) -> None:
        super().__post_init__()  # the recipe's checks
        if self.lr_decay_start is None:  # an older config.json's spelling of constant rates
            self.lr_decay_start = NO_DECAY
        validate(self)  # train's own: a config that exists is valid

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        data = upgrade_keys(data)  # older spellings (lr, betas, b_u, ...) still load
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UsageError(f"config has unknown keys: {', '.join(unknown)}")
        return cls(**data)


# The paper's CIFAR-10 run; recipe values not listed here are the recipe DEFAULTS (methods §10).
_LARGE: dict[str, Any] = dict(
    data="cifar10",
    genotype="mmd-adversarialnas-cifar10",
    resolution=32,
    width=256,
    d_width=512,
    latent_dim=120,
    activation="pmish",
    d_norm="sn",
    d_out_dim=16,
    batch_size=128,
    steps=None,
    epochs=500.0,
    eval_every=None,
    eval_every_epochs=5.0,
    eval_samples=2000,
    log_every=100,
    checkpoint_every=2000,
    grid_size=64,
    sparse_every=2000,
)

# Where the seed paper's public code (Pulakurthi et al., MMD-PMish-NAS) differs from ganctl's defaults.
# The paper presets follow the code; the "-fast" presets keep ganctl's choices: one D call on
# cat(real, fake) (2 spectral-norm power iterations per step instead of 4; bench/d_forward.py measures speed),
# EMA warm-up (short runs export a trained generator, not a blend with the initialisation) and
# horizontal flips (the usual CIFAR-10 augmentation).
_PAPER: dict[str, Any] = dict(d_forward="separate", ema_warmup=False, flip=False)
_FAST: dict[str, Any] = {}  # the recipe DEFAULTS and train's own (joint D call, EMA warm-up, flips)

PRESETS: dict[str, dict[str, Any]] = {
    "cifar10-large": {**_LARGE, **_PAPER},
    "cifar10-large-fast": {**_LARGE, **_FAST},
    "cifar10-small": {**_LARGE, **_PAPER, "width": 128},
    "cifar10-small-fast": {**_LARGE, **_FAST, "width": 128},
    "stl10": {**_LARGE, **_PAPER, "data": "stl10", "resolution": 48},
    "stl10-fast": {**_LARGE, **_FAST, "data": "stl10", "resolution": 48},
    "celeba64": {
        **_LARGE,
        "data": "celeba",
        "resolution": 64,
        "batch_size": 64,
        "epochs": 100.0,
        "eval_every_epochs": 2.0,
    },
    # CPU demos and tests, tuned on `sprites` with the published genotype, 2 CPU threads. At 32 px (randconv
    # FID-256 proxy every 200 steps, seed 0): batch 32 (the MMD kernel estimate needs it: batch 16 oscillated),
    # G width 16; lr 5e-4 with constant rates ended 1,800 steps at 1.48, linear decay over the second half at
    # 1.30, D width 16 (28 % faster steps, 2,300 of them) at 0.93, both rates at 1e-3 (beta1 0.5) at 0.22. The
    # proxy liked that preset far more than the FID Inception did (FID-500 against 1,000 references: 198 at
    # 2,100 steps, where held-out real scores 3.9 and matched noise 252): lopsided shapes and soft edges weigh
    # heavily there (held-out real warped by 1 px scores 51, blurred by σ 1 px 78). At 16 px a step costs 2.3x
    # less, so the same minutes buy 4,800 steps (Inception FID-500, seed 0, floor 4.8, ceiling 250.7): D width
    # 16 128, D width 32 116 (12 % slower), G width 32 169, EMA 0.995 129; seed 1 with D 32 167 (the
    # saturate schedule raised b_u to 16 while the proxy stalled). The main job (examples/pipeline.sh) took
    # 537 s on 2 CPU cores with 4,000 steps (train 382 s); with 3,500, 477 s (train 339 s; FID-500 125.8, 49 %
    # of the way from 4.8 to 250.7), leaving room for slower machines. Batch 64 draws 1.5x the images per second
    # of batch 32 on this CPU (470 against 310-375 img/s: per-step overhead), so 2,300 steps at batch 64 cost
    # what 3,500 at 32 do and scored FID-500 116.7 / 106.4 / 90.6 at seeds 0 / 1 / 2 (KID 0.094 / 0.074 /
    # 0.061), against 125.8 at seed 0 for batch 32 (3,500 steps); latent 48 scored 106.8 at batch 32 but
    # 112.1 / 138.7 (seeds 0 / 1) at batch 64, and the linear bound schedule 166.3 at batch 32 (3,500 steps).
    # 2,600 steps at batch 64 scored 105.5 at seed 0; the main job with them took 503 s (train 400 s; FID-500
    # 105.5, 41 % of the way; KID 27 %). Seeds 1 / 2 at 2,600 steps: 141.1 / 99.2 (seed 1's proxy rose after
    # step 1,600 and its best snapshot stayed there). lr_d 2e-3 scored 178.3 and 5e-4 113.1 (seed 0), so D keeps
    # G's 1e-3. At the same minutes nothing else beat this (seeds 0 / 1, FID-500): decay from 25 % of the run
    # 125.6 / 115.9, batch 128 for 1,500 steps 133.3 / 110.4, D width 48 for 1,900 steps 122.3 / 123.7, D width
    # 64 for 1,400 steps 164.3 / 134.9. D width 64 for the full 2,600 steps scored 95.2 / 67.8 / 69.4 at seeds
    # 0 / 1 / 2 (KID 0.074 / 0.045 / 0.051; one thread each) but trains 1.9x as long: the main job with it
    # (pipeline TRAIN_FLAGS="--d-width 64", 2 threads, seed 0) took 718 s and scored 111.9. D width 48 for
    # 2,600 steps scored 103.8 at seed 1 but steps 1.4x as long. Simpler data did worse (seed 0, same sprites
    # with 3 colours: 131.5; 3 colours, no rotation, fixed background, larger shapes: 184.6): G dropped green.
    # bf16 autocast steps 1.35x (D 32) / 1.45x (D 64) as fast as fp32 on this CPU (AVX512-BF16) but D width 64
    # for 2,600 steps in bf16 scored 123.9 / 82.9 (seeds 0 / 1) against fp32's 95.2 / 67.8, so CPU training stays
    # fp32; 2 gloo processes of one thread (torchrun, same maths) ran no faster than one of two threads (D 32:
    # 384 against 514 img/s). D width 64 at batch 32 steps as fast as this preset but scored 106.6 / 178.0
    # (seeds 0 / 1) in 2,600 steps. At the same cost: BSSN (--d-norm bssn, c 1) 86.2 / 153.9 / 139.1 (seeds 0 / 1 / 2;
    # mean 126 against the preset's 115), D output 64 instead of 16 129.2 (seed 0), b_u starting at 8 158.0 (seed 0).
    # Adam β2 0.99 instead of the recipe's 0.9 (as compress's fine-tune) scored 94.5 / 93.3 / 114.4 (KID 0.069 /
    # 0.062 / 0.095; one thread each), but the main job with it (2 threads, seed 0: another trajectory) 165.2
    # (proxy FID-1k 0.244 against 0.160), so it stays at 0.9. Over seeds 0-4 (one thread each) this preset scored
    # 105.5 / 141.1 / 99.2 / 100.1 / 123.4 (mean 113.9) and D width 48 in bf16 97.4 / 80.6 / 99.9 / 71.5 / 68.9
    # (mean 83.7) in the same training time on this AVX512-BF16 CPU (536 against 540 s), and for 3,400 steps 83.3 /
    # 70.2 / 84.6 / 58.8 (seeds 0-3, mean 74.2): examples/pipeline.sh trains that on such CPUs; the preset stays
    # fp32, as bf16 is emulated and slow on CPUs without bf16 instructions. Tests override --steps and widths.
    "tiny": dict(
        data="sprites",
        genotype="mmd-adversarialnas-cifar10",
        resolution=16,
        width=16,
        d_width=32,
        latent_dim=24,
        batch_size=64,
        lr_g=1e-3,
        lr_d=1e-3,
        beta1=0.5,
        lr_decay_start=0.5,
        steps=2600,
        epochs=None,
        eval_every=200,
        eval_every_epochs=None,
        eval_samples=256,
        log_every=50,
        checkpoint_every=200,
        grid_size=64,
        sparse_every=5,
        ema_decay=0.99,
    ),
}


def preset_values(name: str) -> dict[str, Any]:
    if name not in PRESETS:
        raise UsageError(f"unknown preset {name!r} (choose one of {', '.join(PRESETS)})")
    return {"preset": name, **PRESETS[name]}


def resolve_config(preset: str, overrides: dict[str, Any]) -> TrainConfig:
    """Preset table, then every flag the user actually gave (None means 'not given')."""
    values = preset_values(preset)
    values.update({k: v for k, v in overrides.items() if v is not None})
    # --steps beats the preset's epochs and vice versa
    if overrides.get("steps") is not None and overrides.get("epochs") is None:
        values["epochs"] = None
    if overrides.get("epochs") is not None and overrides.get("steps") is None:
        values["steps"] = None
    if overrides.get("eval_every") is not None and overrides.get("eval_every_epochs") is None:
        values["eval_every_epochs"] = None
    return TrainConfig.from_dict(values)


def validate(cfg: TrainConfig) -> None:
    """Train's own checks, one clear line per bad value naming the flag (the recipe's fields were checked
    once, when the config was built: Recipe.__post_init__)."""

    def need(ok: bool, msg: str) -> None:
        if not ok:
            raise UsageError(msg)

    from ganctl.models import limits  # lazy: loads torch; the config module stays torch-free

    limits.check_finite_numbers(cfg.to_dict())
    limits.check_sizes(cfg.to_dict())
    limits.check_seed(cfg.seed)
    need(cfg.d_norm in D_NORMS, f"--d-norm {cfg.d_norm!r}: choose one of {', '.join(D_NORMS)}")
    need(cfg.precision in PRECISIONS, f"--precision {cfg.precision!r}: choose one of {', '.join(PRECISIONS)}")
    need(
        cfg.compile_mode in COMPILE_MODES,
        f"--compile-mode {cfg.compile_mode!r}: choose one of {', '.join(COMPILE_MODES)}",
    )
    need(cfg.steps is not None or cfg.epochs is not None, "give --steps or --epochs")
    need(cfg.steps is None or cfg.steps > 0, f"--steps must be positive, got {cfg.steps}")
    need(cfg.epochs is None or cfg.epochs > 0, f"--epochs must be positive, got {cfg.epochs}")
    for name in (
        "batch_size",
        "resolution",
        "width",
        "d_width",
        "latent_dim",
        "log_every",
        "checkpoint_every",
        "sparse_every",
        "d_out_dim",
        "grid_size",
    ):
        need(getattr(cfg, name) > 0, f"--{name.replace('_', '-')} must be positive, got {getattr(cfg, name)}")
    need(
        cfg.lr_decay_start is None or 0.0 <= cfg.lr_decay_start <= 1.0,
        f"--lr-decay-start must be in [0, 1] (a fraction of the run; 1 keeps the rates constant), "
        f"got {cfg.lr_decay_start}",
    )
    need(cfg.eval_every is None or cfg.eval_every >= 0, "--eval-every must be >= 0 (0 disables)")
    need(cfg.eval_samples >= 2, "--eval-samples must be at least 2")
    from ganctl.train.metrics import check_metric_inputs  # lazy: loads torch; the config module stays torch-free

    check_metric_inputs(cfg.metric, cfg.inception_weights)  # a typo or a missing file fails before any work
    if cfg.loss == "mmd":
        need(cfg.batch_size >= 2, "the MMD loss needs --batch-size >= 2")


def config_changes(saved: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Keys whose values differ between the saved run and the requested one (`saved` as `load_saved` returns
    it: spelled as TrainConfig builds it, so an older file's spelling of the same value is no change)."""
    keys = sorted(set(saved) | set(new))
    return [k for k in keys if k not in RUNTIME_KEYS and saved.get(k) != new.get(k)]


def total_steps(cfg: TrainConfig, num_images: int) -> int:
    if cfg.steps is not None:
        return int(cfg.steps)
    assert cfg.epochs is not None
    return max(1, round(cfg.epochs * num_images / cfg.batch_size))


def eval_interval(cfg: TrainConfig, num_images: int) -> int:
    """Steps between proxy evaluations (0: never)."""
    if cfg.eval_every is not None:
        return int(cfg.eval_every)
    if cfg.eval_every_epochs:
        return max(1, round(cfg.eval_every_epochs * num_images / cfg.batch_size))
    return 0


def resume_config(saved: dict[str, Any], overrides: dict[str, Any], allow_change: list[str]) -> TrainConfig:
    """The saved config plus the flags given now; a changed key must be listed in --allow-change."""
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    allowed = {k.replace("-", "_") for k in allow_change}
    bad = sorted(allowed - known)
    if bad:
        raise UsageError(f"--allow-change: unknown config key(s) {', '.join(bad)}")
    merged = {**saved, **{k: v for k, v in overrides.items() if v is not None}}
    changed = [k for k in config_changes(saved, merged) if k not in allowed]
    if changed:
        detail = ", ".join(f"{k} ({saved.get(k)!r} -> {merged.get(k)!r})" for k in changed)
        raise UsageError(
            f"--resume: the config differs from the saved run in {detail}; "
            f"pass --allow-change KEY for each key to accept the change"
        )
    return TrainConfig.from_dict(merged)


# Fields added after ganctl 0.1.0, by generation (oldest first), with the behaviour the files without them had:
# a run an older ganctl started can still be resumed. The rates were constant before lr_decay_start existed.
ADDED_GENERATIONS: tuple[dict[str, Any], ...] = (
    {f.name: f.default for f in dataclasses.fields(TrainConfig)
     if f.name in ("bound_increment", "ema_warmup", "d_forward", "metric", "inception_weights", "compile_mode")},
    {"lr_decay_start": NO_DECAY},
)
ADDED_AFTER_0_1_0 = {k: v for generation in ADDED_GENERATIONS for k, v in generation.items()}


def load_saved(out: str) -> dict[str, Any]:
    """A train run's config.json, checked and validated (exit 3 naming the file when it is not right); one
    written by an older ganctl (without the fields added since) is brought up to date. No train config.json
    was ever written with legacy keys, so one that has them is hand-edited: not upgraded (its missing recipe
    fields would be filled with defaults the run may not have used). The values come back as TrainConfig builds
    them (one spelling per meaning: an older file's lr_decay_start null is 1), so comparisons with a new config
    see only real changes."""
    saved = load_saved_config(out, TrainConfig, validate, added=ADDED_GENERATIONS)
    return TrainConfig.from_dict(saved).to_dict()


def from_flags(values: dict[str, Any], *, preset: str | None, resume: str | None, allow_change: list[str],
               preset_given: bool, need_out: bool) -> TrainConfig:
    """The config a `train` invocation means: the saved run's with --resume DIR (only --allow-change keys
    may differ), else `preset` (or the default) with `values` on top, precision "auto" resolved for the device.

    `values` are the file's and the typed flags' settings (None = not given); `preset_given`: --preset or
    --config was given, which a resume refuses (the saved config is used)."""
    values = dict(values)
    if resume is not None:
        if values.get("out") not in (None, "") and Path(values["out"]) != Path(resume):
            raise UsageError("--resume DIR continues in DIR; drop --out (or give the same folder)")
        if preset_given:
            raise UsageError("--preset/--config cannot be combined with --resume (the saved config is used)")
        values["out"] = str(resume)
        saved = load_saved(resume)
        return resume_config(saved, values, allow_change)
    if values.get("out") in (None, "") and need_out:
        raise UsageError("--out DIR is required (or --resume DIR)")
    if allow_change:
        raise UsageError("--allow-change only applies with --resume")
    values["precision"] = training_precision(values)
    values["out"] = values.get("out") or ""
    return resolve_config(preset or DEFAULT_PRESET, values)


def training_precision(values: dict[str, Any]) -> str:
    """The precision a new run trains in: the one given, or "auto" (or none) resolved for its device
    (runtime.resolve_precision); a bad value is kept here and refused by TrainConfig's checks."""
    if values.get("precision") not in (None, AUTO):
        return values["precision"]
    from ganctl.runtime import resolve_device, resolve_precision  # lazy: loads torch; config stays torch-free

    return resolve_precision(AUTO, resolve_device(values.get("device") or "auto"))
