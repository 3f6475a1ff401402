"""Import checkpoints of the seed paper's public code (MMD-PMish-NAS, Pulakurthi et al.) into ganctl.

The public code saves ``torch.save`` dicts holding ``gen_state_dict``, ``avg_gen_state_dict`` (the
EMA generator, the one its authors evaluate), ``dis_state_dict`` and a few plain values (epoch, best
FID, paths). Its generator is the AdversarialNAS cell generator that ganctl builds from a genotype,
with other module names; its discriminator is the AutoGAN residual D with hook-style spectral norm
(``weight_orig``/``weight_u``/``weight_v``). This module only renames tensors: the numbers are kept,
so the imported generator draws the same images for the same z.

Loading never runs code: ``torch.load(weights_only=True)`` with an allow-list of the numpy scalar
types such a file may hold, and genotype ``.npy`` files are read with ``allow_pickle=False``.
Facts about the layout were measured on the public repository; nothing of its code is used here.
"""

from __future__ import annotations

import importlib
import math
import pickle
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ganctl.errors import GanctlError, InputFileError, RunDirError, SpecError
from ganctl.genotype import Genotype, import_index_matrix, load_genotype, save_genotype
from ganctl.io.artifact import save_discriminator, save_generator
from ganctl.io.atomic import file_sha256
from ganctl.models.discriminator import build_discriminator, discriminator_spec
from ganctl.models.generator import SUPPORTED_RESOLUTIONS, CellGenerator, build_generator, generator_spec

# The op lists the public code's index matrices (latest_G.npy) index, in its order.
REFERENCE_UP_OPS = ("nearest", "bilinear", "bicubic", "ConvTranspose")
REFERENCE_NORMAL_OPS = (
    "none",
    "skip_connect",
    "conv_1x1",
    "conv_3x3",
    "conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
DEFAULT_KEY = "avg_gen_state_dict"
GENERATOR_KEYS = ("avg_gen_state_dict", "gen_state_dict")
DISCRIMINATOR_KEY = "dis_state_dict"


# ---------------------------------------------------------------------------------------- genotype
def read_index_matrix(path: str | Path) -> Genotype:
    """A genotype from the public code's (cells × 7) ``.npy`` index matrix (no pickle allowed)."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError("genotype file not found", path)
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError as e:  # object arrays need pickle: refused
        raise InputFileError(f"not a plain numeric .npy index matrix ({str(e)[:120]})", path) from e
    except (OSError, EOFError) as e:
        raise InputFileError(f"not a readable .npy file ({str(e)[:120]})", path) from e
    if not isinstance(arr, np.ndarray) or arr.ndim != 2 or arr.shape[1] != 7 or arr.dtype.kind not in "iu":
        shape = getattr(arr, "shape", None)
        raise InputFileError(
            f"expected an integer index matrix of shape (cells, 7), got shape {shape} "
            f"dtype {getattr(arr, 'dtype', None)}",
            path,
        )
    try:
        return import_index_matrix(
            arr.tolist(),
            up_ops=REFERENCE_UP_OPS,
            normal_ops=REFERENCE_NORMAL_OPS,
            provenance={"imported_from": str(path.name), "op_lists": "MMD-PMish-NAS (PRIMITIVES, PRIMITIVES_up)"},
        )
    except SpecError as e:
        raise InputFileError(f"not a genotype of the paper's code: {e}", path) from e


def resolve_genotype(arg: str | Path) -> Genotype:
    """``.npy`` index matrix, a ganctl genotype JSON file, or a built-in genotype name."""
    if str(arg).endswith(".npy"):
        return read_index_matrix(arg)
    return load_genotype(arg)


# ---------------------------------------------------------------------------------------- checkpoint
def _numpy_scalar_globals() -> list[Any]:
    """The few non-tensor types a checkpoint of the paper's code holds besides dicts, str and numbers:
    numpy scalars (e.g. ``best_fid``) and their dtypes. Nothing here can run code."""
    allowed: list[Any] = [np.dtype]
    for name in ("float64", "float32", "int64", "int32"):
        dtype_cls = type(np.dtype(name))
        allowed.append(dtype_cls)
    for modname in ("numpy._core.multiarray", "numpy.core.multiarray"):
        try:
            scalar = importlib.import_module(modname).scalar
        except (ImportError, AttributeError):
            continue
        # files written under numpy 1.x and 2.x name the reconstructor differently
        allowed.append((scalar, "numpy.core.multiarray.scalar"))
        allowed.append((scalar, "numpy._core.multiarray.scalar"))
        break
    return allowed


def load_reference_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint of the paper's code without a full unpickle; bad files -> InputFileError."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError("checkpoint not found", path)
    try:
        with torch.serialization.safe_globals(_numpy_scalar_globals()):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "weights only" not in str(e).lower():
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise InputFileError(f"not a readable PyTorch checkpoint ({first[:160]})", path) from e
        reason = next((ln.strip() for ln in str(e).splitlines() if "Unsupported" in ln), "")
        raise InputFileError(
            "holds Python objects beyond tensors and plain values"
            + (f" ({reason[:120]})" if reason else "")
            + "; refusing to unpickle it",
            path,
        ) from e
    except (zipfile.BadZipFile, RuntimeError, EOFError, ValueError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputFileError(f"not a readable PyTorch checkpoint ({first[:160]})", path) from e
    except Exception as e:  # noqa: BLE001 - any unpickling failure of a foreign file is bad input
        raise InputFileError(f"not a readable PyTorch checkpoint ({type(e).__name__})", path) from e
    if not isinstance(obj, Mapping):
        raise InputFileError(f"expected a dict saved by torch.save, got {type(obj).__name__}", path)
    return dict(obj)


def strip_module_prefix(state: Mapping[str, Any]) -> dict[str, Any]:
    """Drop the ``module.`` prefix ``nn.DataParallel`` puts on every key."""
    return {(k[len("module.") :] if k.startswith("module.") else k): v for k, v in state.items()}


def _is_state_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and bool(obj) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    )


def select_state(ckpt: Mapping[str, Any], key: str | None, path: str | Path, what: str) -> dict[str, torch.Tensor]:
    """The state dict under ``key``; a bare state dict file is accepted as it is."""
    if key is None and _is_state_dict(ckpt):
        return strip_module_prefix(ckpt)
    key = key or DEFAULT_KEY
    if key not in ckpt:
        have = ", ".join(sorted(str(k) for k in ckpt)[:8]) or "nothing"
        raise InputFileError(f"has no {key!r} entry for the {what} (it holds: {have})", path)
    state = ckpt[key]
    if not _is_state_dict(state):
        raise InputFileError(f"{key!r} is not a state dict of tensors", path)
    return strip_module_prefix(state)


# ---------------------------------------------------------------------------------------- key maps
# (reference key pattern, ganctl key template); {k} is the 0-based index of the 1-based cellK/blockK/lK.
_G_RULES: list[tuple[str, str]] = [
    (r"l(?P<n>\d+)\.(?P<p>weight|bias)", "latent_proj.{k}.{p}"),
    (r"cell(?P<n>\d+)\.(?P<e>up[01])\.ups\.0\.(c|convT)\.0\.activation_fn\.beta", "cells.{k}.{e}.act.beta"),
    (r"cell(?P<n>\d+)\.(?P<e>up[01])\.ups\.0\.c\.1\.(?P<p>weight|bias)", "cells.{k}.{e}.conv.{p}"),
    (r"cell(?P<n>\d+)\.(?P<e>up[01])\.ups\.0\.convT\.1\.weight", "cells.{k}.{e}.deconv.weight"),
    (r"cell(?P<n>\d+)\.(?P<e>up[01])\.ups\.0\.convT\.2\.weight", "cells.{k}.{e}.conv.weight"),
    (r"cell(?P<n>\d+)\.(?P<e>c[0-4])\.ops\.0\.op\.0\.activation_fn\.beta", "cells.{k}.{e}.act.beta"),
    (r"cell(?P<n>\d+)\.(?P<e>c[0-4])\.ops\.0\.op\.1\.(?P<p>weight|bias)", "cells.{k}.{e}.conv.{p}"),
    (r"cell(?P<n>\d+)\.skip_in_ops\.(?P<i>\d+)\.(?P<p>weight|bias)", "cells.{k}.skip_in.{i}.{p}"),
    (r"to_rgb\.0\.(?P<p>.+)", "head.0.{p}"),
    (r"to_rgb\.1\.activation_fn\.beta", "head.1.beta"),
    (r"to_rgb\.2\.(?P<p>weight|bias)", "head.2.{p}"),
]
# Hook-style spectral norm (torch.nn.utils.spectral_norm) -> ganctl's parametrization.
_SN = "parametrizations.weight"
_D_RULES: list[tuple[str, str]] = [
    (r"block(?P<n>\d+)\.(?P<c>c1|c2|c_sc)\.bias", "blocks.{k}.{c}.bias"),
    (r"block(?P<n>\d+)\.(?P<c>c1|c2|c_sc)\.weight_orig", "blocks.{k}.{c}." + _SN + ".original"),
    (r"block(?P<n>\d+)\.(?P<c>c1|c2|c_sc)\.weight_u", "blocks.{k}.{c}." + _SN + ".0.u1"),
    (r"block(?P<n>\d+)\.(?P<c>c1|c2|c_sc)\.weight_v", "blocks.{k}.{c}." + _SN + ".0.v1"),
    (r"block(?P<n>\d+)\.(?P<c>c1|c2|c_sc)\.weight", "blocks.{k}.{c}.weight"),
    (r"l5\.weight_orig", "linear." + _SN + ".original"),
    (r"l5\.weight_u", "linear." + _SN + ".0.u1"),
    (r"l5\.weight_v", "linear." + _SN + ".0.v1"),
    (r"l5\.weight", "linear.weight"),
]


def _map_key(key: str, rules: list[tuple[str, str]]) -> str | None:
    for pattern, template in rules:
        m = re.fullmatch(pattern, key)
        if m:
            groups = m.groupdict()
            k = int(groups["n"]) - 1 if groups.get("n") else None
            return template.format(k=k, **groups)
    return None


def _rename(
    state: Mapping[str, torch.Tensor], rules: list[tuple[str, str]], source: str | Path, what: str
) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        target = _map_key(key, rules)
        if target is None:
            raise InputFileError(f"unexpected {what} tensor {key!r}: not the paper's {what} layout", source)
        out[target] = value
    return out


def _load_strict(module: nn.Module, state: dict[str, torch.Tensor], source: str | Path, what: str) -> None:
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        detail = []
        if missing:
            detail.append(f"missing {len(missing)} tensor(s), e.g. {missing[0]}")
        if unexpected:
            detail.append(f"{len(unexpected)} tensor(s) the genotype has no place for, e.g. {unexpected[0]}")
        raise InputFileError(f"{what} weights do not fit the genotype: {'; '.join(detail)}", source)
    for k, v in own.items():
        if tuple(state[k].shape) != tuple(v.shape):
            raise InputFileError(
                f"{what} tensor {k} has shape {tuple(state[k].shape)}, the genotype needs {tuple(v.shape)}", source
            )
    module.load_state_dict({k: state[k].to(v.dtype) for k, v in own.items()}, strict=True)


# ---------------------------------------------------------------------------------------- generator
def infer_generator_spec(
    ref_state: Mapping[str, torch.Tensor], genotype: Genotype, activation: str | None, source: str | Path
) -> dict:
    """Width, latent size, resolution and activation read off the reference tensors."""
    linears = sorted(int(m.group(1)) for k in ref_state if (m := re.match(r"^l(\d+)\.weight$", k)))
    if not linears or "to_rgb.2.weight" not in ref_state:
        raise InputFileError("not a generator of the paper's code (no l1.weight / to_rgb.2.weight)", source)
    if linears != list(range(1, len(linears) + 1)):
        raise InputFileError(f"latent linears l{linears} are not numbered l1..lN", source)
    width = int(ref_state["to_rgb.2.weight"].shape[1])
    out_features, chunk = (int(s) for s in ref_state["l1.weight"].shape)
    bottom = math.isqrt(out_features // width) if out_features % width == 0 else 0
    if bottom * bottom * width != out_features:
        raise InputFileError(f"l1 maps to {out_features} features, not width {width} × a square map", source)
    resolution = next((r for r, b in SUPPORTED_RESOLUTIONS.items() if b == bottom), None)
    if resolution is None:
        raise InputFileError(f"bottom width {bottom} matches no supported resolution", source)
    if any(".activation_fn.alpha" in k for k in ref_state):
        raise InputFileError(
            "uses the early two-parameter activation (alpha·x·tanh(softplus(βx))), which ganctl does not build",
            source,
        )
    has_beta = any(k.endswith("activation_fn.beta") for k in ref_state)
    act = activation or ("pmish" if has_beta else "relu")
    try:
        return generator_spec(
            genotype,
            resolution=resolution,
            width=width,
            latent_dim=chunk * len(linears),
            activation=act,
            latent_chunks=len(linears),
        )
    except SpecError as e:
        raise InputFileError(f"the generator and the genotype do not fit together: {e}", source) from e


def build_reference_generator(
    ref_state: Mapping[str, torch.Tensor],
    genotype: Genotype,
    *,
    activation: str | None = None,
    source: str | Path = "state dict",
) -> CellGenerator:
    """A ganctl generator holding exactly the reference state dict's numbers (eval mode)."""
    state = strip_module_prefix(ref_state)
    spec = infer_generator_spec(state, genotype, activation, source)
    module = build_generator(spec)
    _load_strict(module, _rename(state, _G_RULES, source, "generator"), source, "generator")
    return module.eval()


# ---------------------------------------------------------------------------------------- discriminator
def build_reference_discriminator(
    ref_state: Mapping[str, torch.Tensor], *, resolution: int = 32, source: str | Path = "state dict"
) -> nn.Module:
    """The AutoGAN residual D of the paper's code as a ganctl ``resnet`` discriminator (eval mode).

    Hook-style spectral norm tensors map onto ganctl's parametrization: weight_orig → original,
    weight_u/weight_v → the persistent power-iteration vectors u1/v1 (same shapes, same maths).
    """
    state = strip_module_prefix(ref_state)
    for need in ("block1.c1", "l5"):
        if not any(k.startswith(need + ".weight") for k in state):
            raise InputFileError(f"not a discriminator of the paper's code (no {need} weight)", source)
    sn = any(k.endswith(".weight_orig") for k in state)
    first = state["block1.c1.weight_orig" if sn else "block1.c1.weight"]
    last = state["l5.weight_orig" if sn else "l5.weight"]
    try:
        spec = discriminator_spec(
            kind="resnet",
            width=int(first.shape[0]),
            resolution=resolution,
            out_dim=int(last.shape[0]),
            norm="sn" if sn else "none",
        )
        module = build_discriminator(spec)
    except GanctlError as e:
        raise InputFileError(f"cannot build a discriminator for it: {e}", source) from e
    _load_strict(module, _rename(state, _D_RULES, source, "discriminator"), source, "discriminator")
    return module.eval()


# ---------------------------------------------------------------------------------------- one call
def _claim_targets(out: Path, with_d: bool, force: bool) -> dict[str, Path]:
    """The files the import writes; `out` created, an existing file refused unless `force`."""
    targets = {"generator": out / "generator.safetensors", "genotype": out / "genotype.json"}
    if with_d:
        targets["discriminator"] = out / "discriminator.safetensors"
    if out.exists() and not out.is_dir():
        raise RunDirError("--out exists and is not a folder", out)
    clash = [p for p in targets.values() if p.exists()]
    if clash and not force:
        raise RunDirError(f"{clash[0].name} already exists; pass --force to replace it", out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RunDirError(f"cannot create the output folder ({e.strerror or e})", out) from e
    return targets


def import_reference(
    checkpoint: str | Path,
    genotype: str | Path,
    out: str | Path,
    *,
    key: str | None = None,
    discriminator: bool | None = None,
    activation: str | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Checkpoint + genotype -> ``out/generator.safetensors`` + ``out/genotype.json`` (+ the D).

    ``discriminator``: None imports ``dis_state_dict`` when the file has one, True demands it,
    False skips it. Existing outputs are only replaced with ``force``.
    """
    checkpoint, out = Path(checkpoint), Path(out)
    geno = resolve_genotype(genotype)
    ckpt = load_reference_checkpoint(checkpoint)
    bare = _is_state_dict(ckpt)
    g_state = select_state(ckpt, key, checkpoint, "generator")
    G = build_reference_generator(g_state, geno, activation=activation, source=checkpoint)
    D = None
    want_d = (DISCRIMINATOR_KEY in ckpt) if discriminator is None else discriminator
    if want_d:
        if bare or DISCRIMINATOR_KEY not in ckpt:
            raise InputFileError(f"has no {DISCRIMINATOR_KEY!r} entry to import the discriminator from", checkpoint)
        d_state = select_state(ckpt, DISCRIMINATOR_KEY, checkpoint, "discriminator")
        D = build_reference_discriminator(d_state, resolution=G.resolution, source=checkpoint)

    targets = _claim_targets(out, D is not None, force)
    sha = file_sha256(checkpoint)
    plain = {k: v for k, v in ckpt.items() if isinstance(v, (str, int, float)) and not isinstance(v, bool)}
    base = {
        "imported_from": "MMD-PMish-NAS checkpoint (Pulakurthi et al.)",
        "checkpoint": checkpoint.name,
        "checkpoint_sha256": sha,
    }
    g_prov = {
        **base,
        "state_dict_key": None if (key is None and bare) else (key or DEFAULT_KEY),
        "genotype": str(genotype),
        "reference_values": {k: plain[k] for k in ("epoch", "best_fid", "best_is", "model") if k in plain},
    }
    save_genotype(targets["genotype"], geno)
    save_generator(targets["generator"], G, provenance=g_prov)
    if D is not None:
        save_discriminator(targets["discriminator"], D, provenance={**base, "state_dict_key": DISCRIMINATOR_KEY})
    return {
        "output": str(targets["generator"]),
        "files": {k: str(v) for k, v in targets.items()},
        "params": sum(p.numel() for p in G.parameters()),
        "width": G.width,
        "resolution": G.resolution,
        "activation": G.spec["activation"],
    }
