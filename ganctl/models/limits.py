"""One spec validator with size bounds, run before anything big is allocated.

A spec or flag is a few bytes; the module it describes can be hundreds of gigabytes. Every
size is bounded here, and a stored artifact's spec is checked against the tensors the file
actually holds by building the module on PyTorch's `meta` device (shapes only, no memory)
before the real module is built.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch

from ganctl import models  # the package, so a patched `models.build_generator` is the one used
from ganctl.errors import GanctlError, InputFileError, SpecError, UsageError
from ganctl.models.plan import apply_plan

# Sane maxima: an order of magnitude beyond the largest published small-GAN settings
# (AdversarialNAS/MMD-AdversarialNAS use G width 256, D width 512, latent 120, 32–128 px).
MAX_WIDTH = 4096
MAX_LATENT = 4096
MAX_OUT_DIM = 4096
MAX_RESOLUTION = 1024
MAX_CELLS = 16
MAX_OPS = 64
MAX_SPEC_CHARS = 1 << 20  # a spec (genotype included) is a few KB; it must fit a safetensors header
MAX_PARAMS = 1_000_000_000  # 4 GB of fp32 weights: far past any model this tool trains
MAX_BATCH = 65_536
MAX_SAMPLES = 10_000_000
MAX_STEPS = 1_000_000_000
SEED_LIMIT = 1 << 63  # seeds live in [0, 2**63): torch.manual_seed's range

# flag name -> (smallest, largest) for integer sizes given on the command line or in a config
FLAG_BOUNDS: dict[str, tuple[int, int]] = {
    "width": (1, MAX_WIDTH), "d_width": (1, MAX_WIDTH), "width_g": (1, MAX_WIDTH), "width_d": (1, MAX_WIDTH),
    "latent_dim": (1, MAX_LATENT), "d_out_dim": (1, MAX_OUT_DIM), "resolution": (1, MAX_RESOLUTION),
    "batch_size": (1, MAX_BATCH), "num": (1, MAX_SAMPLES), "num_samples": (1, MAX_SAMPLES),
    "num_reference": (1, MAX_SAMPLES), "eval_samples": (1, MAX_SAMPLES), "probe_samples": (1, MAX_SAMPLES),
    "grid_size": (1, 4096), "nrow": (1, MAX_BATCH), "steps": (1, MAX_STEPS), "finetune_steps": (0, MAX_STEPS),
    "seeds": (1, 1000),
    "n_critic": (1, 1000), "fit_iters": (1, 100_000), "max_images": (1, MAX_SAMPLES),
}


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_seed(seed: Any, name: str = "seed") -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < SEED_LIMIT:
        raise UsageError(f"{flag(name)} {seed!r}: seeds must be integers in [0, 2**63)")


def check_sizes(values: dict[str, Any]) -> None:
    """Integer sizes within FLAG_BOUNDS (None = not given); exit 2 naming the flag."""
    for name, value in values.items():
        if value is None or name not in FLAG_BOUNDS:
            continue
        lo, hi = FLAG_BOUNDS[name]
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            what = f"a positive integer, at most {hi:,}" if lo == 1 else f"an integer in [{lo}, {hi:,}]"
            raise UsageError(f"{flag(name)} {value!r}: must be {what}")


def check_finite_numbers(values: dict[str, Any]) -> None:
    """Float hyper-parameters must be finite (a NaN learning rate is a usage error, not a divergence)."""
    for name, value in values.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise UsageError(f"{flag(name)} {value}: must be a finite number")
        if isinstance(value, (list, tuple)):
            for v in value:
                check_finite_numbers({name: v})


def check_betas(beta1: float, beta2: float, name: str = "beta") -> None:
    for i, b in enumerate((beta1, beta2), start=1):
        if not (isinstance(b, (int, float)) and 0.0 <= b < 1.0):
            raise UsageError(f"--{name}{i} {b!r}: Adam betas must be in [0, 1)")


def _int_in(spec: dict[str, Any], key: str, lo: int, hi: int, what: str) -> None:
    """Bound a size the spec declares (a missing key is the model builder's to report)."""
    if key not in spec:
        return
    value = spec[key]
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise SpecError(f"{what} spec: {key} {value!r} must be an integer in [{lo}, {hi:,}]")


def _check_genotype_size(geno: Any, what: str) -> None:
    if geno is None:
        return
    if not isinstance(geno, dict):
        raise SpecError(f"{what} spec: genotype must be a JSON object")
    ops = geno.get("ops")
    if isinstance(ops, dict) and any(isinstance(v, list) and len(v) > MAX_OPS for v in ops.values()):
        raise SpecError(f"{what} spec: genotype op lists are longer than {MAX_OPS}")
    for part in ("generator", "discriminator"):
        cells = (geno.get(part) or {}).get("cells") if isinstance(geno.get(part), dict) else None
        if isinstance(cells, list) and len(cells) > MAX_CELLS:
            raise SpecError(f"{what} spec: genotype has {len(cells)} {part} cells, more than {MAX_CELLS}")


def check_spec(kind: str, spec: Any) -> None:
    """Bounds on every size a generator/discriminator spec declares (SpecError, exit 5)."""
    if not isinstance(spec, dict):
        raise SpecError(f"{kind} spec must be a JSON object")
    try:
        size = len(json.dumps(spec, default=str))
    except (TypeError, ValueError, RecursionError) as e:
        raise SpecError(f"{kind} spec is not plain JSON ({type(e).__name__})") from None
    if size > MAX_SPEC_CHARS:
        raise SpecError(f"{kind} spec is {size:,} characters of JSON, more than the {MAX_SPEC_CHARS:,} allowed")
    _int_in(spec, "width", 1, MAX_WIDTH, kind)
    _int_in(spec, "resolution", 1, MAX_RESOLUTION, kind)
    _int_in(spec, "init_seed", 0, SEED_LIMIT - 1, kind)
    if kind == "generator":
        _int_in(spec, "latent_dim", 1, MAX_LATENT, kind)
        _int_in(spec, "latent_chunks", 1, MAX_CELLS, kind)
        _int_in(spec, "bottom_width", 1, MAX_RESOLUTION, kind)
    else:
        _int_in(spec, "out_dim", 1, MAX_OUT_DIM, kind)
        scale = spec.get("scale", 1.0)
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale):
            raise SpecError(f"{kind} spec: scale {scale!r} must be a finite number")
    _check_genotype_size(spec.get("genotype"), kind)
    plan = spec.get("decomposition")
    if plan is not None and (not isinstance(plan, list) or len(plan) > 10_000):
        raise SpecError(f"{kind} spec: decomposition must be a list of at most 10,000 layer entries")


def meta_state_shapes(kind: str, spec: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """Shapes of the weights the spec builds, computed on the meta device (no memory is allocated).

    Discriminators are built without their spectral-norm parametrization (its power iteration
    cannot run on meta), so the names differ from a stored file but the weight sizes are the same.
    """
    check_spec(kind, spec)
    with torch.device("meta"):
        if kind == "generator":
            module = models.build_generator(spec)
        else:
            module = models.build_discriminator({**spec, "norm": "none", "scale": 1.0})
        if spec.get("decomposition"):
            apply_plan(module, spec["decomposition"])
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def check_param_budget(kind: str, spec: dict[str, Any]) -> int:
    """Number of weights the spec builds; SpecError past MAX_PARAMS (before anything is allocated)."""
    count = sum(math.prod(s) for s in meta_state_shapes(kind, spec).values())
    if count > MAX_PARAMS:
        raise SpecError(f"{kind} spec builds {count:,} weights, more than the {MAX_PARAMS:,} allowed")
    return count


def check_against_file(kind: str, spec: dict[str, Any], stored: dict[str, tuple[int, ...]],
                       path: str | Path) -> None:
    """Refuse (exit 3) an artifact whose spec would build more weights than the file stores.

    Runs before the real module is built, so a tiny file claiming an enormous width never
    allocates it. Exact per-tensor shapes are compared after the (now bounded) build.
    """
    try:
        shapes = meta_state_shapes(kind, spec)
    except GanctlError as e:
        raise InputFileError(f"spec cannot be rebuilt: {e}", path) from e
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, RuntimeError) as e:
        raise InputFileError(f"spec cannot be rebuilt ({type(e).__name__}: {str(e)[:160]})", path) from e
    need = sum(math.prod(s) for s in shapes.values())
    have = sum(math.prod(s) for s in stored.values())
    if need > MAX_PARAMS:
        raise InputFileError(f"spec builds {need:,} weights, more than the {MAX_PARAMS:,} allowed", path)
    if need > have:
        raise InputFileError(f"weight shapes do not match the spec: it describes {need:,} weights, "
                             f"the file stores only {have:,}", path)
    if kind == "generator":
        for name, shape in shapes.items():
            if name in stored and stored[name] != shape:
                raise InputFileError(f"weight shapes do not match the spec: {name} is {stored[name]}, "
                                     f"spec needs {shape}", path)
