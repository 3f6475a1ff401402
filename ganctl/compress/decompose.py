"""Fit CP / Tucker-2 / SVD factors of one layer (tensorly, pytorch backend) into a real factorised module.

Layers with spectral normalisation are decomposed from their *effective* weight; the result is a
plain module without SN (the normalisation is baked into the factors). Fits run in float64 on the
layer's device (the GPU when the model is there: ALS on a 256×256×3×3 kernel is thousands of small
matmuls) and are copied back to the layer's dtype. A CP fit can start from a smaller rank's factors
(`warm`), the remaining columns from the SVD initialisation, so ARD's ascending rank probes refine
one fit instead of starting over.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ganctl.errors import SpecError
from ganctl.nn.factorised import (  # noqa: F401 - the shape maths lives with the layers; re-exported for callers
    METHODS,
    CPConv2d,
    CPConvTranspose2d,
    Factorised,
    LowRankConv1x1,
    LowRankLinear,
    TuckerConv,
    _dims,
    _is_1x1,
    _pair,
    build_factorised,
    dense_params,
    factorised_params,
    layer_type,
    max_rank,
    normalise_rank,
    resolve_method,
)
from ganctl.nn.spectral import effective_weight as sn_weight


class DecompositionError(SpecError):
    """A layer could not be factorised even after retrying at lower ranks."""


@dataclass
class FitResult:
    module: Factorised
    method: str
    rank: int | list[int]
    rel_error: float
    retries: int
    factors: list[Tensor] | None = None  # CP only: the balanced float64 factors (a warm start for a larger rank)


def effective_weight(layer: nn.Module) -> Tensor:
    """The weight the layer really applies (spectral normalisation included)."""
    return sn_weight(layer).detach()


def parity_rank(layer: nn.Module, method: str) -> int:
    """The largest rank that still saves parameters (0 when no rank does)."""
    top = max_rank(layer, method)
    full = dense_params(layer)
    lo, hi = 0, top
    while lo < hi:  # params grow monotonically with rank
        mid = (lo + hi + 1) // 2
        if factorised_params(layer, method, mid) < full:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _warm_init(weight: Tensor, rank: int, warm: list[Tensor]) -> object:
    """CP initialisation at `rank`: the given smaller-rank factors, then SVD-initialised columns."""
    import tensorly as tl  # lazy: tensorly loads in about a second; only an ALS warm start needs it
    from tensorly.decomposition._cp import initialize_cp  # lazy: as above

    with tl.backend_context("pytorch"):
        svd = initialize_cp(weight, rank, init="svd", random_state=0)
    have = warm[0].shape[1]
    factors = [torch.cat([w.to(f), f[:, have:]], dim=1) for w, f in zip(warm, svd.factors, strict=True)]
    return tl.cp_tensor.CPTensor((torch.ones(rank, dtype=weight.dtype, device=weight.device), factors))


def _fit(
    weight: Tensor,
    kind: str,
    method: str,
    rank: int | list[int],
    n_iter: int,
    tol: float,
    warm: list[Tensor] | None = None,
) -> tuple[list[Tensor], Tensor | None, float]:
    """Return factors (and a Tucker core) of a float64 weight, plus the relative reconstruction error."""
    import tensorly as tl  # lazy: tensorly loads in about a second; only a CP/Tucker fit needs it
    from tensorly.decomposition import parafac, partial_tucker  # lazy: as above

    if method == "svd":
        mat = weight.reshape(weight.shape[0], -1)
        u, s, vh = torch.linalg.svd(mat, full_matrices=False)
        root = s[:rank].sqrt()
        left, right = u[:, :rank] * root, root[:, None] * vh[:rank]
        return [left, right], None, float((left @ right - mat).norm() / mat.norm().clamp_min(1e-30))
    with tl.backend_context("pytorch"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if method == "tucker":
            # conv2d kernels are (C_out, C_in, ...); transposed ones (C_in, C_out, ...)
            r_out, r_in = rank
            ranks = [r_out, r_in] if kind == "conv2d" else [r_in, r_out]
            out = partial_tucker(weight, rank=ranks, modes=[0, 1], n_iter_max=n_iter, tol=tol, init="svd")
            core, factors = out[0] if isinstance(out[0], tuple) else out
            rec = tl.tenalg.multi_mode_dot(core, factors, modes=[0, 1])
            return list(factors), core, float((rec - weight).norm() / weight.norm().clamp_min(1e-30))
        init: object = "svd"
        if rank == math.prod(sorted(weight.shape)[:3]):
            init = tl.cp_tensor.CPTensor(
                (torch.ones(rank, dtype=weight.dtype, device=weight.device), _exact_cp_factors(weight))
            )
        elif warm is not None and 0 < warm[0].shape[1] < rank:
            init = _warm_init(weight, rank, warm)
        cp = parafac(
            weight,
            rank,
            n_iter_max=n_iter,
            init=init,
            tol=tol,
            normalize_factors=True,
            random_state=0,
            linesearch=True,
        )
        rec = tl.cp_to_tensor(cp)
        lam, factors = cp.weights, list(cp.factors)
    # spread the CP weights evenly into the four factors (balanced scales train better)
    spread = lam.abs().pow(1.0 / len(factors))
    factors = [f * spread for f in factors]
    factors[0] = factors[0] * torch.sign(lam).where(lam != 0, torch.ones_like(lam))
    return factors, None, float((rec - weight).norm() / weight.norm().clamp_min(1e-30))


def _exact_cp_factors(weight: Tensor) -> list[Tensor]:
    """At the maximal rank a CP decomposition is known in closed form: one rank-one term per index of the
    three smallest axes (unit vectors there, the matching fibre of the largest axis). ALS starts from it."""
    big = max(range(4), key=lambda a: weight.shape[a])
    small = [a for a in range(4) if a != big]
    grids = torch.cartesian_prod(*[torch.arange(weight.shape[a], device=weight.device) for a in small])  # (R, 3)
    factors: list[Tensor] = [torch.empty(0)] * 4
    for j, a in enumerate(small):
        factors[a] = torch.nn.functional.one_hot(grids[:, j], weight.shape[a]).T.to(weight.dtype)
    fibres = weight.permute(big, *small)[:, grids[:, 0], grids[:, 1], grids[:, 2]]
    factors[big] = fibres
    return factors


def _fill(
    module: Factorised, layer: nn.Module, kind: str, factors: list[Tensor], core: Tensor | None
) -> None:
    parts = module.parts

    def put(target: nn.Module, value: Tensor) -> None:
        target.weight.data.copy_(value.reshape(target.weight.shape))

    if module.method == "svd":
        left, right = factors  # (out, R), (R, in)
        put(parts[0], right)
        put(parts[1], left)
    elif module.method == "tucker":
        u_first, u_second = factors
        u_out, u_in = (u_first, u_second) if kind == "conv2d" else (u_second, u_first)
        put(parts[0], u_in.T)
        put(parts[1], core)
        put(parts[2], u_out)
    else:
        a, b, v, h = factors if kind == "conv2d" else (factors[1], factors[0], factors[2], factors[3])
        put(parts[0], b.T)
        put(parts[1], v.T)
        put(parts[2], h.T)
        put(parts[3], a)
    last = parts[-1]
    if last.bias is not None:
        last.bias.data.copy_(layer.bias.detach())


@contextlib.contextmanager
def _threads_for(weight: Tensor) -> Iterator[None]:
    """Small fits are thousands of tiny matmuls: one thread avoids OpenMP hand-off costs (10-50× faster)."""
    before = torch.get_num_threads()
    if weight.numel() < 200_000:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def decompose_layer(  # size: keyword-only fit knobs with defaults (tests and bench tune them one at a time)
    layer: nn.Module,
    method: str,
    rank: int | list[int],
    *,
    n_iter: int = 100,
    tol: float = 1e-8,
    max_retries: int = 6,
    name: str = "layer",
    device: torch.device | str | None = None,
    warm: FitResult | None = None,
) -> FitResult:
    """Factorise one layer; a failed fit (non-finite, error ≥ 100 %) retries at ¾ of the rank.

    `device`: where the float64 fit runs (default: the CPU). `warm`: a CP fit of this layer at a smaller
    rank to start from (ignored for other methods)."""
    method = resolve_method(layer, method)
    kind = layer_type(layer)
    rank = normalise_rank(layer, method, rank, name)
    weight = effective_weight(layer).to(device or "cpu", torch.float64)
    warm_factors = warm.factors if warm is not None and method == "cp" else None
    if not torch.isfinite(weight).all():
        raise DecompositionError(f"{name} has non-finite weights; cannot decompose")
    for attempt in range(max_retries + 1):
        try:
            with _threads_for(weight):
                args = (weight, kind, method, rank, n_iter, tol)
                factors, core, err = _fit(*args, warm=warm_factors) if warm_factors else _fit(*args)
            ok = math.isfinite(err) and err < 1.0 and all(torch.isfinite(f).all() for f in factors)
        except (RuntimeError, ValueError, torch.linalg.LinAlgError):
            ok = False
        if ok:
            module = build_factorised(layer, method, rank).to(device=weight.device, dtype=weight.dtype)
            _fill(module, layer, kind, factors, core)
            p = next(layer.parameters())
            kept = factors if method == "cp" else None
            return FitResult(module.to(device=p.device, dtype=p.dtype), method, module.rank, err, attempt, kept)
        lower = [max(1, r * 3 // 4) for r in rank] if isinstance(rank, list) else max(1, rank * 3 // 4)
        if lower == rank:
            break
        rank = lower
    raise DecompositionError(
        f"{name}: the {method} fit failed (non-finite or no convergence) down to rank {rank}"
    )
