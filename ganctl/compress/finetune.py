"""Fine-tune a decomposed generator on the core GAN loop (the train step and loop), optionally with DGL.

With `freeze_factors` the factorised layers stay as fitted and only the rest of G trains. With a teacher
D (the uncompressed model's discriminator) the DGL term α·L_adv(D_t(G(z))) is added (methods §6).
Resumable: a `kind="compress"` checkpoint holds the plan, G, D, optimisers, data-stream and RNG state.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganctl.core.ema import EMA
from ganctl.core.loop import GANLoop, LoopHooks
from ganctl.core.optim import make_adam
from ganctl.core.step import GANStep, StepModules
from ganctl.errors import TrainingDivergedError
from ganctl.io.checkpoint import load_checkpoint, restoring, save_checkpoint
from ganctl.nn.factorised import Factorised
from ganctl.recipe import DEFAULTS, RECIPE_FIELDS, Recipe, upgrade_keys
from ganctl.runtime import World, derive_seed, rng_state, set_rng_state


@dataclass(kw_only=True)
class FinetuneConfig(Recipe):
    """The recipe the fine-tune runs (by default the parent's, see `from_record`) plus its schedule.

    The bound schedule does not run here: the MMD b_u stays at `bound_upper`, the value the parent's
    training reached (Pulakurthi et al., 2024, §4: the bound only grows, so restarting at the initial
    b_u would undo it)."""

    steps: int = 0
    batch_size: int = 64
    freeze_factors: bool = False
    distill_weight: float = 0.0  # L1 pull toward the uncompressed G's output on the same noise (0 = off)
    checkpoint_every: int = 200
    seed: int = 0
    precision: str = "fp32"  # resolved for the device by the caller; never inherited (machine-dependent)


def from_record(
    record: dict[str, Any], overrides: dict[str, Any] | None = None, **fixed: Any
) -> tuple[FinetuneConfig, list[str]]:
    """Fine-tuning continues the parent's recorded recipe (v1 or v2 record) and starts at the bound it
    reached; `overrides` (recipe names, None = not given) win. A parent without a record gets the defaults.
    Returns the config and the recipe fields taken from the parent."""
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    parent, reached = Recipe.from_record(record) if record else (DEFAULTS, None)
    values = {**dataclasses.asdict(parent), **({} if reached is None else {"bound_upper": reached}), **overrides}
    values["bound_cap"] = max(values["bound_cap"], values["bound_upper"])  # the bound is fixed while fine-tuning
    values.pop("precision")
    recorded = {k for k, v in upgrade_keys(record).items() if v is not None and k in RECIPE_FIELDS}
    recorded |= {"bound_upper"} if reached is not None else set()
    taken = sorted(k for k in recorded - set(overrides) - {"precision"} if k in values)
    return FinetuneConfig(**values, **fixed), taken


def trainable_params(G: nn.Module, freeze_factors: bool) -> list[nn.Parameter]:
    frozen: set[int] = set()
    if freeze_factors:
        for m in G.modules():
            if isinstance(m, Factorised):
                frozen.update(id(p) for p in m.parameters())
    for p in G.parameters():
        p.requires_grad_(id(p) not in frozen)
    return [p for p in G.parameters() if p.requires_grad]


def finetune(  # size: the compress checkpoint contract; tests call it positionally
    G: nn.Module,
    D: nn.Module,
    teacher: nn.Module | None,
    stream: Any,
    cfg: FinetuneConfig,
    device: torch.device,
    checkpoint: Path,
    extra_state: dict[str, Any],
    *,
    resume: bool = False,
    log: Callable[[dict[str, Any]], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
    g_teacher: nn.Module | None = None,
) -> dict[str, Any]:
    """Run (or continue) `cfg.steps` steps of the core loop; checkpoints every `checkpoint_every` and at the end.

    G ends holding the EMA of its fine-tuned weights (the recipe's `ema_decay`/`ema_warmup`, as train
    exports; methods §10): the raw weights of a short GAN fine-tune are a noisy point of the trajectory.
    With `g_teacher` (the uncompressed G) and `cfg.distill_weight > 0`, G's loss also pulls its output
    toward the teacher's on the same noise."""
    if g_teacher is not None:
        g_teacher.to(device).eval().requires_grad_(False)
    step_fn = _step_fn(G, D, teacher, cfg, device, g_teacher)
    ema = EMA(G, cfg.ema_decay, warmup=cfg.ema_warmup)
    noise = torch.Generator(device=device)
    noise.manual_seed(derive_seed(cfg.seed, "compress/noise") % (1 << 63))
    latent = int(G.latent_dim)
    loop = GANLoop(
        step_fn, stream.next,
        lambda real: torch.randn(real.shape[0], latent, generator=noise, device=device),
        n_critic=cfg.n_critic, total=cfg.steps,
    )
    parts = {"G": G, "D": D, "opt_g": step_fn.opt_g, "opt_d": step_fn.opt_d, "data": stream, "ema": ema}
    if resume and checkpoint.exists():
        state = load_checkpoint(checkpoint, expect_kind="compress")
        with restoring(checkpoint):
            # a checkpoint from before the fine-tune kept an EMA has none: the average restarts at G
            fallback = {"ema": G.state_dict()}
            for key, part in parts.items():
                part.load_state_dict(state[key] if key in state else fallback[key])
            noise.set_state(state["noise_rng"].to(noise.get_state().device))
            set_rng_state(state["rng"])
            loop.step = int(state["step"])

    def after_step(step: int) -> None:
        at_log = log is not None and (step % 50 == 0 or step == cfg.steps)
        at_checkpoint = step % cfg.checkpoint_every == 0 or step == cfg.steps
        if at_log or at_checkpoint:
            bad = step_fn.first_bad_step()
            if bad is not None:
                raise TrainingDivergedError(
                    f"fine-tuning loss became non-finite at step {bad}; "
                    f"the last checkpoint ({checkpoint.name}) is kept"
                )
        if at_log and log is not None:
            mean_d, mean_g = step_fn.means()
            log({"step": step, "loss_d": mean_d, "loss_g": mean_g})
            step_fn.reset_sums()
        if progress is not None:
            progress(step, cfg.steps)
        if at_checkpoint:
            state = {key: part.state_dict() for key, part in parts.items()}
            save_checkpoint(checkpoint, {"kind": "compress", "step": step, **state,
                                         "noise_rng": noise.get_state(), "rng": rng_state(), **extra_state})

    loop.hooks = LoopHooks(after_g=lambda step: ema.update(G, step), after_step=after_step)
    step = loop.run()
    with torch.no_grad():
        G.load_state_dict(ema.state_dict())
    G.to(memory_format=torch.contiguous_format).eval().requires_grad_(False)
    return {"steps": step}


def _step_fn(G: nn.Module, D: nn.Module, teacher: nn.Module | None, cfg: FinetuneConfig,
             device: torch.device, g_teacher: nn.Module | None = None) -> GANStep:
    """The train step on the student: G (factors frozen or not) and its D, NHWC on CUDA as in train."""
    G.to(device).train()
    D.to(device).train()
    channels_last = device.type == "cuda"  # NHWC convs on tensor cores, as in train
    if channels_last:
        G.to(memory_format=torch.channels_last)
        D.to(memory_format=torch.channels_last)
    params = trainable_params(G, cfg.freeze_factors)
    opt_g = make_adam(params, cfg.lr_g, (cfg.beta1, cfg.beta2), device)  # fused on CUDA, as in train
    opt_d = make_adam(D.parameters(), cfg.lr_d, (cfg.beta1, cfg.beta2), device)
    step_fn = GANStep(
        StepModules(G, D, G, G, D, D, teacher, g_teacher),  # the step adds the distill term when its weight > 0
        opt_g,
        opt_d,
        cfg,  # the DGL term acts only with a teacher (StepModules.teacher)
        device=device,
        world=World(),
        channels_last=channels_last,
        distill_weight=cfg.distill_weight,
    )
    step_fn.b_u = cfg.bound_upper
    return step_fn
