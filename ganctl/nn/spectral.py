"""Spectral normalisation family (methods §8) as one ``torch.nn.utils.parametrize`` parametrization.

Modes: ``sn`` W/σ₁, ``ssn`` c·W/σ₁, ``bsn`` W/((σ₁+σ₂)/2), ``bssn`` c·W/((σ₁+σ₂)/2).
σ₁ is the spectral norm of the kernel as an output-major matrix C_out × (C_in·k·k);
σ₂ that of the kernel with input and output swapped, C_in × (C_out·k·k).
ConvTranspose2d stores its kernel as (C_in, C_out, k, k), so the two reshapes swap roles there.
For Linear layers σ₂ = σ₁ exactly (a matrix and its transpose), so σ₂ is not iterated separately.

The power-iteration vectors are buffers of the parametrization module, so they travel with
``state_dict``. Power iteration and the division run in fp32 with autocast disabled; one
iteration happens per forward in training mode, none in eval mode.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from ganctl.errors import SpecError

NORM_MODES = ("none", "sn", "ssn", "bsn", "bssn")
_INITIAL_ITERATIONS = 15  # warm start at registration, as torch's own spectral_norm does


def _matrices(weight: torch.Tensor, transposed: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(output-major matrix, input-major matrix) views of a Linear/Conv/ConvTranspose kernel."""
    w = weight
    if transposed:  # ConvTranspose: (C_in, C_out, k, k) -> make it output-major
        w = w.transpose(0, 1)
    out_major = w.reshape(w.shape[0], -1)
    in_major = w.transpose(0, 1).reshape(w.shape[1], -1)
    return out_major, in_major


class SpectralScale(nn.Module):
    """Parametrization W ↦ c·W/σ with σ = σ₁ (unidirectional) or (σ₁+σ₂)/2 (bidirectional)."""

    def __init__(
        self,
        weight: torch.Tensor,
        *,
        transposed: bool,
        bidirectional: bool,
        scale: float = 1.0,
        eps: float = 1e-12,
    ):
        super().__init__()
        self.transposed = transposed
        self.bidirectional = bidirectional and weight.dim() > 2
        self.scale = float(scale)
        self.eps = eps
        with torch.no_grad():
            m1, m2 = _matrices(weight.detach().float(), transposed)
            self.register_buffer(
                "u1", F.normalize(torch.randn(m1.shape[0], device=weight.device), dim=0, eps=eps)
            )
            self.register_buffer(
                "v1", F.normalize(torch.randn(m1.shape[1], device=weight.device), dim=0, eps=eps)
            )
            if self.bidirectional:
                self.register_buffer(
                    "u2", F.normalize(torch.randn(m2.shape[0], device=weight.device), dim=0, eps=eps)
                )
                self.register_buffer(
                    "v2", F.normalize(torch.randn(m2.shape[1], device=weight.device), dim=0, eps=eps)
                )
            self.power_iteration(weight, _INITIAL_ITERATIONS)

    @torch.no_grad()
    def power_iteration(self, weight: torch.Tensor, n: int = 1) -> None:
        """Advance the persistent vectors by ``n`` power-iteration steps (fp32, in place)."""
        with torch.autocast(device_type=weight.device.type, enabled=False):
            m1, m2 = _matrices(weight.detach().float(), self.transposed)
            pairs = [(m1, self.u1, self.v1)]
            if self.bidirectional:
                pairs.append((m2, self.u2, self.v2))
            for mat, u, v in pairs:
                for _ in range(n):
                    v.copy_(F.normalize(mat.t() @ u, dim=0, eps=self.eps))
                    u.copy_(F.normalize(mat @ v, dim=0, eps=self.eps))

    def sigmas(self, weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Current estimates (σ₁, σ₂) = uᵀWv with the stored vectors (differentiable in W)."""
        with torch.autocast(device_type=weight.device.type, enabled=False):
            m1, m2 = _matrices(weight.float(), self.transposed)
            s1 = torch.dot(self.u1.clone(), m1 @ self.v1.clone())
            s2 = torch.dot(self.u2.clone(), m2 @ self.v2.clone()) if self.bidirectional else s1
        return s1, s2

    def normalise(self, weight: torch.Tensor) -> torch.Tensor:
        s1, s2 = self.sigmas(weight)
        sigma = (s1 + s2) / 2 if self.bidirectional else s1
        with torch.autocast(device_type=weight.device.type, enabled=False):
            out = weight.float() * (self.scale / sigma.clamp(min=self.eps))
        return out.to(weight.dtype)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.power_iteration(weight, 1)
        return self.normalise(weight)


def _check_mode(mode: str, scale: float) -> tuple[bool, float]:
    if mode not in NORM_MODES or mode == "none":
        raise SpecError(f"unknown spectral-norm mode {mode!r} (choose sn, ssn, bsn or bssn)")
    if mode in ("sn", "bsn") and scale != 1.0:
        raise SpecError(
            f"spectral-norm mode {mode!r} is unscaled; use {mode.replace('sn', 'ssn')!r} for scale {scale}"
        )
    return mode in ("bsn", "bssn"), scale


def spectral_norm(module: nn.Module, mode: str = "sn", scale: float = 1.0) -> nn.Module:
    """Register the SN-family parametrization on ``module.weight`` (Conv2d, ConvTranspose2d, Linear).

    ``mode="none"`` returns the module unchanged. Returns the module for chaining.
    """
    if mode == "none":
        return module
    bidirectional, scale = _check_mode(mode, scale)
    if not isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        raise SpecError(
            f"spectral norm supports Conv2d, ConvTranspose2d and Linear, not {type(module).__name__}"
        )
    param = SpectralScale(
        module.weight,
        transposed=isinstance(module, nn.ConvTranspose2d),
        bidirectional=bidirectional,
        scale=scale,
    )
    parametrize.register_parametrization(module, "weight", param)
    return module


def spectral_parametrization(module: nn.Module) -> SpectralScale | None:
    """The SpectralScale registered on ``module.weight``, or None."""
    if not parametrize.is_parametrized(module, "weight"):
        return None
    for p in module.parametrizations.weight:
        if isinstance(p, SpectralScale):
            return p
    return None


@torch.no_grad()
def effective_weight(module: nn.Module) -> torch.Tensor:
    """The weight the layer actually uses (normalised if parametrized), without a power-iteration step."""
    param = spectral_parametrization(module)
    if param is None:
        return module.weight.detach().clone()
    return param.normalise(module.parametrizations.weight.original).detach()


@contextlib.contextmanager
def power_iteration_paused(module: nn.Module) -> Iterator[None]:
    """Inside, every SN layer of ``module`` normalises with its current vectors and does not iterate, even in
    training mode: a second forward in the same step then uses the same σ as the first, as one call would."""
    paused = [m for m in module.modules() if isinstance(m, SpectralScale) and m.training]
    for m in paused:
        m.training = False
    try:
        yield
    finally:
        for m in paused:
            m.training = True
