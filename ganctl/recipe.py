"""The GAN recipe: every training knob shared by search, train and compress, with its default written once.

The recipe is the maths of a run (Pulakurthi et al., 2024: the MMD losses and their bounds §2-§3,
the progressive bound schedule §4, the optimiser and EMA §10, DGL §6, sparsity), as opposed to data,
model shape, schedule length or output. Stage configs inherit `Recipe`, so a value has one home;
presets are tables of deltas over `DEFAULTS`. Validation runs once, at construction.

`train` records the recipe in a generator's provenance under "recipe" (with the bound reached);
`compress` fine-tuning (and DGL) reads it back so a parent trained up to b_u = 16 is fine-tuned at
b_u = 16 with its own learning rate, betas and loss, not at the initial b_u = 4 of a fresh run
(methods §4: the bound only grows).

This module imports nothing from ganctl but `errors` (it sits below runtime, io, models and the stages).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields
from typing import Any

from ganctl.errors import UsageError

# The recipe's choice tuples, written once (train, search, compress and the core check against these).
LOSSES = ("mmd", "hinge")  # user-facing losses; core/losses.py also offers "ns" to library callers
BOUND_SCHEDULES = ("saturate", "linear", "saturate-linear", "fixed")
D_REGROW = ("static", "random")
D_FORWARDS = ("joint", "separate")
PRECISIONS = ("fp32", "bf16")  # resolved precisions; a config may also hold AUTO
AUTO = "auto"
# "default": inductor fusion, no autotuning (compiles in seconds). "max-autotune-no-cudagraphs": also
# benchmarks conv/matmul kernels (minutes of warm-up). "reduce-overhead": CUDA graphs on top (pays when
# launch overhead dominates; needs static shapes).
COMPILE_MODES = ("default", "max-autotune-no-cudagraphs", "reduce-overhead")


def flag(name: str) -> str:
    """The command-line spelling of a config key (error messages name the flag the user typed)."""
    return "--" + name.replace("_", "-")


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    """One message format for every choice flag: "--flag 'x': choose one of a, b"."""
    if value not in choices:
        raise UsageError(f"{flag(name)} {value!r}: choose one of {', '.join(choices)}")
    return value


def check_bound_schedule(mode: str) -> str:
    return check_choice("bound_schedule", mode, BOUND_SCHEDULES)


@dataclass(kw_only=True)
class Recipe:
    """The GAN recipe (Pulakurthi et al., 2024, §2-§4, §6, §10); every default is written here, once."""

    loss: str = "mmd"
    bound_lower: float = 0.25  # b_l of the MMD D loss (§3)
    bound_upper: float = 4.0  # the initial b_u; the schedule raises it (§4)
    mmd_modified_weight: float = 1e-4  # λ_m of the modified MMD term (§2)
    bound_schedule: str = "saturate"
    bound_patience: int = 6
    bound_factor: float = 2.0  # saturate: b_u *= factor
    bound_increment: float = 4.0  # saturate-linear: b_u += increment
    bound_cap: float = 64.0
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.0
    beta2: float = 0.9
    n_critic: int = 1
    ema_decay: float = 0.999
    ema_warmup: bool = True  # decay min(d, (1+t)/(10+t)); False: fixed d from step 1, as the paper's code
    d_forward: str = "joint"  # joint: one D call on cat(real, fake); separate: D(real), D(fake) as the paper
    precision: str = AUTO  # bf16 on CUDA, fp32 elsewhere (runtime.resolve_precision)
    dgl_weight: float = 0.1  # α of the DGL teacher term (§6)
    g_density: float = 1.0
    d_density: float = 1.0
    sparse_every: int = 100
    sparse_drop: float = 0.5
    sparse_d_regrow: str = "static"

    def __post_init__(self) -> None:
        check_recipe(self)

    def recipe(self) -> Recipe:
        """The recipe part of a stage config (a TrainConfig is a Recipe plus its own fields)."""
        return Recipe(**{f.name: getattr(self, f.name) for f in fields(Recipe)})

    def replace(self, **changes: Any) -> Recipe:
        """A copy with `changes`, validated like any construction."""
        return dataclasses.replace(self, **changes)

    def to_record(self, bound_reached: float) -> dict[str, Any]:
        """What an artifact records: the recipe fields plus the b_u the schedule had reached."""
        return {"version": RECORD_VERSION, **dataclasses.asdict(self.recipe()), "bound_reached": float(bound_reached)}

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> tuple[Recipe, float | None]:
        """(recipe, bound reached) from a record of either version; unknown keys are ignored."""
        values = upgrade_keys({k: v for k, v in rec.items() if k not in ("version", "batch_size")})
        reached = values.pop("bound_reached", None)
        if rec.get("version", RECORD_VERSION) == 1:  # v1: "b_u" was the bound reached, "b_u_initial" the start
            reached = rec.get("b_u", reached)
            values["bound_upper"] = rec.get("b_u_initial", values.get("bound_upper", DEFAULTS.bound_upper))
        known = {k: v for k, v in values.items() if k in RECIPE_FIELDS and v is not None}
        return cls(**known), (None if reached is None else float(reached))


def _need(ok: bool, msg: str) -> None:
    if not ok:
        raise UsageError(msg)


def check_recipe(r: Recipe) -> None:
    """The one validation of the recipe's fields, one line naming the flag (exit 2)."""
    for f in fields(Recipe):
        v = getattr(r, f.name)
        if isinstance(v, float) and not math.isfinite(v):
            raise UsageError(f"{flag(f.name)} {v}: must be a finite number")
    check_choice("loss", r.loss, LOSSES)
    check_bound_schedule(r.bound_schedule)
    check_choice("d_forward", r.d_forward, D_FORWARDS)
    check_choice("precision", r.precision, (AUTO, *PRECISIONS))
    _need(r.sparse_d_regrow in D_REGROW, f"--sparse-d-regrow {r.sparse_d_regrow!r}: static or random")
    for i, b in enumerate((r.beta1, r.beta2), start=1):
        _need(isinstance(b, (int, float)) and 0.0 <= b < 1.0, f"--beta{i} {b!r}: Adam betas must be in [0, 1)")
    _need(0.0 <= r.ema_decay < 1.0, f"--ema-decay must be in [0, 1), got {r.ema_decay}")
    _need(0.0 < r.g_density <= 1.0, f"--g-density must be in (0, 1], got {r.g_density}")
    _need(0.0 < r.d_density <= 1.0, f"--d-density must be in (0, 1], got {r.d_density}")
    _need(0.0 <= r.sparse_drop < 1.0, f"--sparse-drop must be in [0, 1), got {r.sparse_drop}")
    _need(r.lr_g > 0 and r.lr_d > 0, "learning rates must be positive")
    _need(isinstance(r.n_critic, int) and r.n_critic > 0, f"--n-critic must be positive, got {r.n_critic}")
    _need(r.dgl_weight >= 0, "--dgl-weight must be >= 0")
    _need(r.mmd_modified_weight >= 0, "--mmd-modified-weight must be >= 0")
    _need(r.bound_factor > 1.0, f"--bound-factor must be > 1, got {r.bound_factor}")
    _need(r.bound_increment > 0, f"--bound-increment must be positive, got {r.bound_increment}")
    _need(0 < r.bound_lower < r.bound_upper <= r.bound_cap, "need 0 < --bound-lower < --bound-upper <= --bound-cap")


DEFAULTS = Recipe()
RECIPE_FIELDS = frozenset(f.name for f in fields(Recipe))
RECORD_VERSION = 2

# Old spellings of recipe and shared keys (config.json of older runs, --config files, API keyword
# arguments): old -> new, or old -> (new, new) when one old knob set two (lr -> lr_g and lr_d).
LEGACY_KEYS: dict[str, str | tuple[str, ...]] = {
    "width_g": "width",
    "width_d": "d_width",
    "mmd_bound_lower": "bound_lower",
    "mmd_bound_upper": "bound_upper",
    "b_l": "bound_lower",
    "b_u": "bound_upper",
    "modified_weight": "mmd_modified_weight",
    "lr": ("lr_g", "lr_d"),
    "betas": ("beta1", "beta2"),
    "extractor": "eval_extractor",
}


def upgrade_keys(d: dict[str, Any]) -> dict[str, Any]:
    """`d` with legacy keys renamed; a new spelling given alongside its old one wins."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        new = LEGACY_KEYS.get(k)
        if new is None:
            continue
        if isinstance(new, tuple):
            values = list(v) if isinstance(v, (list, tuple)) else [v] * len(new)
            if len(values) != len(new):
                raise UsageError(f"{k}: expected {len(new)} values ({', '.join(new)}), got {v!r}")
            out.update(zip(new, values, strict=True))
        else:
            out[new] = v
    out.update({k: v for k, v in d.items() if k not in LEGACY_KEYS})
    return out


def upgrade_saved(saved: dict[str, Any], cls: type) -> dict[str, Any]:
    """A run's saved config.json for `cls`, with legacy keys renamed. A file that had any legacy key was
    written before the stage embedded the recipe: the recipe fields it lacks are filled with `cls`'s
    defaults (the values that version ran with). A current file is returned unchanged."""
    upgraded = upgrade_keys(saved)
    if upgraded.keys() == saved.keys():
        return saved
    missing = {f.name: f.default for f in fields(cls)
               if f.name in RECIPE_FIELDS and f.name not in upgraded and f.default is not dataclasses.MISSING}
    return {**missing, **upgraded}


def apply_preset(base: dict[str, Any], *deltas: dict[str, Any]) -> dict[str, Any]:
    """A preset is `base` updated by each table of deltas in turn (later tables win)."""
    out = dict(base)
    for delta in deltas:
        out.update(delta)
    return out


def layered(file_values: dict[str, Any], flags: dict[str, Any], given: set[str],
            exclusive: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:
    """File values, then the typed flags; a typed flag clears its file-given alternative (steps vs epochs)."""
    values = dict(file_values)
    for a, b in exclusive:
        for mine, other in ((a, b), (b, a)):
            if mine in given and other not in given and other in values:
                values[other] = None
    values.update({k: v for k, v in flags.items() if k in given})
    return values
