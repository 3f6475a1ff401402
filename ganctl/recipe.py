"""The training recipe an artifact was made with, so later stages continue it instead of guessing.

Recorded in a generator's provenance under "recipe" by `train`; `compress` fine-tuning (and DGL)
reads it back so a parent trained up to b_u = 16 is fine-tuned at b_u = 16 with its own learning
rate, betas and loss, not at the initial b_u = 4 of a fresh run (methods §4: the bound only grows).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # an annotation only: recipe.py sits below the stages and imports none of them
    from ganctl.train.config import TrainConfig

# The recipe's choice tuples, written once (train, search, compress and the core check against these).
LOSSES = ("mmd", "hinge")  # user-facing losses; core/losses.py also offers "ns" to library callers
BOUND_SCHEDULES = ("saturate", "linear", "saturate-linear", "fixed")
D_REGROW = ("static", "random")
D_FORWARDS = ("joint", "separate")
# "default": inductor fusion, no autotuning (compiles in seconds). "max-autotune-no-cudagraphs": also
# benchmarks conv/matmul kernels (minutes of warm-up). "reduce-overhead": CUDA graphs on top (pays when
# launch overhead dominates; needs static shapes).
COMPILE_MODES = ("default", "max-autotune-no-cudagraphs", "reduce-overhead")

RECIPE_VERSION = 1


def train_recipe(cfg: TrainConfig, b_u: float) -> dict[str, Any]:
    """The recipe of a run whose bound schedule has reached `b_u` (the value the next step would use)."""
    return {
        "version": RECIPE_VERSION,
        "loss": cfg.loss,
        "b_l": cfg.bound_lower,
        "b_u": float(b_u),
        "b_u_initial": cfg.bound_upper,
        "bound_schedule": cfg.bound_schedule,
        "bound_cap": cfg.bound_cap,
        "mmd_modified_weight": cfg.mmd_modified_weight,
        "lr_g": cfg.lr_g,
        "lr_d": cfg.lr_d,
        "betas": [cfg.beta1, cfg.beta2],
        "n_critic": cfg.n_critic,
        "ema_decay": cfg.ema_decay,
        "dgl_weight": cfg.dgl_weight if cfg.teacher_d else None,
        "precision": cfg.precision,
        "d_forward": cfg.d_forward,
        "batch_size": cfg.batch_size,
    }


def parent_recipe(provenance: dict[str, Any]) -> dict[str, Any]:
    """The recipe recorded in an artifact's provenance (following a compressed parent's own parent);
    {} for artifacts written before recipes were recorded."""
    recipe = provenance.get("recipe")
    if isinstance(recipe, dict):
        return recipe
    parent = provenance.get("parent_provenance")
    return parent_recipe(parent) if isinstance(parent, dict) else {}
