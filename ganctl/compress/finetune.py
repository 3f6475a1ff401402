"""Fine-tune a decomposed generator with the training loss (reusing the train step), optionally with DGL.

With `freeze_factors` the factorised layers stay as fitted and only the rest of G trains. With a teacher
D (the uncompressed model's discriminator) the DGL term α·L_adv(D_t(G(z))) is added (methods §6).
Resumable: a `kind="compress"` checkpoint holds the plan, G, D, optimisers, data-stream and RNG state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganctl.core.ddp import World
from ganctl.core.loop import GANLoop, LoopHooks
from ganctl.core.optim import make_adam
from ganctl.core.step import GANStep, StepModules
from ganctl.errors import TrainingDivergedError
from ganctl.io.checkpoint import load_checkpoint, restoring, save_checkpoint
from ganctl.nn.factorised import Factorised
from ganctl.recipe import DEFAULTS
from ganctl.runtime import derive_seed, rng_state, set_rng_state


@dataclass
class FinetuneConfig:
    steps: int = 0
    batch_size: int = 64
    # recipe values under the fine-tune's older names (defaults written once, in ganctl.recipe)
    lr: float = DEFAULTS.lr_g
    betas: tuple[float, float] = (DEFAULTS.beta1, DEFAULTS.beta2)
    loss: str = DEFAULTS.loss
    b_l: float = DEFAULTS.bound_lower
    b_u: float = DEFAULTS.bound_upper
    modified_weight: float = DEFAULTS.mmd_modified_weight
    freeze_factors: bool = False
    dgl_weight: float = DEFAULTS.dgl_weight
    checkpoint_every: int = 200
    seed: int = 0
    precision: str = "fp32"  # bf16 on CUDA (autocast around the networks, losses in fp32), as in train


def from_recipe(
    recipe: dict[str, Any],
    *,
    lr: float | None = None,
    b_u: float | None = None,
    dgl_weight: float | None = None,
    **fixed: Any,
) -> tuple[FinetuneConfig, list[str]]:
    """Fine-tuning continues the parent's recipe (loss, bounds reached, lr, betas, λ_m, DGL α); a value
    given here overrides it, and a parent without a recipe falls back to the defaults. Returns the config
    and the names of the values taken from the parent."""
    base = FinetuneConfig()
    taken: list[str] = []

    def pick(name: str, given: Any, key: str, default: Any) -> Any:
        if given is not None:
            return given
        if recipe.get(key) is not None:
            taken.append(name)
            return recipe[key]
        return default

    betas = recipe.get("betas")
    cfg = FinetuneConfig(
        lr=float(pick("lr", lr, "lr_g", base.lr)),
        betas=tuple(betas) if betas else base.betas,  # type: ignore[arg-type]
        loss=str(pick("loss", None, "loss", base.loss)),
        b_l=float(pick("b_l", None, "b_l", base.b_l)),
        b_u=float(pick("b_u", b_u, "b_u", base.b_u)),
        modified_weight=float(pick("modified_weight", None, "mmd_modified_weight", base.modified_weight)),
        dgl_weight=float(pick("dgl_weight", dgl_weight, "dgl_weight", base.dgl_weight)),
        **fixed,
    )
    if betas:
        taken.append("betas")
    return cfg, taken


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
) -> dict[str, Any]:
    """Run (or continue) `cfg.steps` steps of the core loop; checkpoints every `checkpoint_every` and at the end."""
    step_fn = _step_fn(G, D, teacher, cfg, device)
    noise = torch.Generator(device=device)
    noise.manual_seed(derive_seed(cfg.seed, "compress/noise") % (1 << 63))
    latent = int(G.latent_dim)
    loop = GANLoop(
        step_fn, stream.next,
        lambda real: torch.randn(real.shape[0], latent, generator=noise, device=device),
        n_critic=1, total=cfg.steps,
    )
    parts = {"G": G, "D": D, "opt_g": step_fn.opt_g, "opt_d": step_fn.opt_d, "data": stream}
    if resume and checkpoint.exists():
        state = load_checkpoint(checkpoint, expect_kind="compress")
        with restoring(checkpoint):
            for key, part in parts.items():
                part.load_state_dict(state[key])
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

    loop.hooks = LoopHooks(after_step=after_step)
    step = loop.run()
    G.to(memory_format=torch.contiguous_format).eval().requires_grad_(False)
    return {"steps": step}


def _step_fn(G: nn.Module, D: nn.Module, teacher: nn.Module | None, cfg: FinetuneConfig,
             device: torch.device) -> GANStep:
    """The train step on the student: G (factors frozen or not) and its D, NHWC on CUDA as in train."""
    G.to(device).train()
    D.to(device).train()
    channels_last = device.type == "cuda"  # NHWC convs on tensor cores, as in train
    if channels_last:
        G.to(memory_format=torch.channels_last)
        D.to(memory_format=torch.channels_last)
    params = trainable_params(G, cfg.freeze_factors)
    opt_g = make_adam(params, cfg.lr, cfg.betas, device)  # fused on CUDA, as in train
    opt_d = make_adam(D.parameters(), cfg.lr, cfg.betas, device)
    step_fn = GANStep(
        StepModules(G, D, G, G, D, D, teacher),
        opt_g,
        opt_d,
        loss=cfg.loss,
        b_l=cfg.b_l,
        modified_weight=cfg.modified_weight,
        dgl_weight=cfg.dgl_weight if teacher is not None else 0.0,
        precision=cfg.precision,
        device=device,
        world=World(),
        channels_last=channels_last,
    )
    step_fn.b_u = cfg.b_u
    return step_fn
