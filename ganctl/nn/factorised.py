"""Factorised layers that run as real (depthwise / 1×1 / small) convolutions — never a rebuilt dense kernel.

Each class is built from the *shape* of an existing layer (so `apply_plan` can recreate it on a fresh
model before the weights load) and later filled with fitted factors by `ganctl.compress.decompose`.

Constructions (x: input, W: the original kernel, R: rank):
- CP Conv2d, W[o,c,i,j] = Σ_r A[o,r]·B[c,r]·V[i,r]·H[j,r]:
  1×1 conv B (C_in→R, no bias) → depthwise kh×1 conv V (stride/padding/dilation along H)
  → depthwise 1×kw conv H (stride/padding/dilation along W) → 1×1 conv A (R→C_out, original bias).
  Every axis of a 2-D convolution is independent, so splitting stride/padding/dilation per axis
  (also asymmetric ones) is exact. Parameters R·(C_in+C_out+kh+kw)+C_out = R·(C_in+C_out+2k)+C_out.
- CP ConvTranspose2d, W[c,o,i,j] = Σ_r B[c,r]·A[o,r]·V[i,r]·H[j,r]: 1×1 conv B → depthwise
  ConvTranspose2d kh×1 (stride/padding/output_padding/dilation along H) → depthwise ConvTranspose2d
  1×kw (along W) → 1×1 conv A with the bias. A transposed conv is the adjoint of a conv; the adjoint of
  a per-axis separable operator is the product of the per-axis adjoints, and the 1×1 channel mixes
  commute with the per-channel spatial ops, so at full rank the output is identical.
- Tucker-2 (both conv kinds): 1×1 conv (C_in→R_in) → core conv / transposed conv (R_in→R_out, k×k,
  all spatial settings) → 1×1 conv (R_out→C_out, bias).
- Linear / 1×1 conv at rank R: two layers in→R→out (a truncated SVD is the optimal fit).
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from ganctl.errors import SpecError, UsageError

LAYER_TYPES = {nn.Conv2d: "conv2d", nn.ConvTranspose2d: "conv_transpose2d", nn.Linear: "linear"}


def layer_type(module: nn.Module) -> str | None:
    """The plan 'type' of a decomposable layer (factorised pieces are not re-decomposed)."""
    for cls, name in LAYER_TYPES.items():
        if type(module) is cls or (
            type(module).__name__.startswith("Parametrized") and isinstance(module, cls)
        ):
            return name
    return None


def _pair(v: Any) -> tuple[int, int]:
    return (int(v[0]), int(v[1])) if isinstance(v, (tuple, list)) else (int(v), int(v))


class Factorised(nn.Module):
    """Common base: a sequence of real layers plus what the plan needs to describe it."""

    method: str = ""
    rank: int | list[int] = 0

    def __init__(self) -> None:
        super().__init__()
        self.parts = nn.Sequential()

    def forward(self, x: Tensor) -> Tensor:
        return self.parts(x)


class CPConv2d(Factorised):
    method = "cp"

    def __init__(self, conv: nn.Conv2d, rank: int):
        super().__init__()
        kh, kw = _pair(conv.kernel_size)
        sh, sw = _pair(conv.stride)
        dh, dw = _pair(conv.dilation)
        self.rank = rank
        has_bias = conv.bias is not None
        if isinstance(conv.padding, str):  # 'same'/'valid' is per-axis too
            pad_h: Any = conv.padding
            pad_w: Any = conv.padding
        else:
            ph, pw = _pair(conv.padding)
            pad_h, pad_w = (ph, 0), (0, pw)
        mode = conv.padding_mode
        self.parts.append(nn.Conv2d(conv.in_channels, rank, 1, bias=False))
        self.parts.append(
            nn.Conv2d(
                rank,
                rank,
                (kh, 1),
                stride=(sh, 1),
                padding=pad_h,
                dilation=(dh, 1),
                groups=rank,
                bias=False,
                padding_mode=mode,
            )
        )
        self.parts.append(
            nn.Conv2d(
                rank,
                rank,
                (1, kw),
                stride=(1, sw),
                padding=pad_w,
                dilation=(1, dw),
                groups=rank,
                bias=False,
                padding_mode=mode,
            )
        )
        self.parts.append(nn.Conv2d(rank, conv.out_channels, 1, bias=has_bias))
        # the two depthwise convs can run as one depthwise kh×kw conv with the rank-1 kernel V⊗H:
        # exact for zero padding, ~1.7× faster than two thin convs on CPU, +kh·kw−kh−kw MACs per channel
        self.fuse_depthwise = mode == "zeros" and not isinstance(conv.padding, str)

    def forward(self, x: Tensor) -> Tensor:
        if not self.fuse_depthwise:
            return self.parts(x)
        first, along_h, along_w, last = self.parts
        kernel = along_h.weight * along_w.weight  # (R,1,kh,1)·(R,1,1,kw) → (R,1,kh,kw), built from factors
        y = F.conv2d(first(x), kernel, None, stride=(along_h.stride[0], along_w.stride[1]),
                     padding=(along_h.padding[0], along_w.padding[1]),
                     dilation=(along_h.dilation[0], along_w.dilation[1]), groups=self.rank)
        return last(y)


class CPConvTranspose2d(Factorised):
    method = "cp"

    def __init__(self, conv: nn.ConvTranspose2d, rank: int):
        super().__init__()
        kh, kw = _pair(conv.kernel_size)
        sh, sw = _pair(conv.stride)
        ph, pw = _pair(conv.padding)
        oh, ow = _pair(conv.output_padding)
        dh, dw = _pair(conv.dilation)
        self.rank = rank
        self.parts.append(nn.Conv2d(conv.in_channels, rank, 1, bias=False))
        self.parts.append(
            nn.ConvTranspose2d(
                rank,
                rank,
                (kh, 1),
                stride=(sh, 1),
                padding=(ph, 0),
                output_padding=(oh, 0),
                dilation=(dh, 1),
                groups=rank,
                bias=False,
            )
        )
        self.parts.append(
            nn.ConvTranspose2d(
                rank,
                rank,
                (1, kw),
                stride=(1, sw),
                padding=(0, pw),
                output_padding=(0, ow),
                dilation=(1, dw),
                groups=rank,
                bias=False,
            )
        )
        self.parts.append(nn.Conv2d(rank, conv.out_channels, 1, bias=conv.bias is not None))


class TuckerConv(Factorised):
    """Tucker-2 for Conv2d and ConvTranspose2d; rank = [R_out, R_in]."""

    method = "tucker"

    def __init__(self, conv: nn.Conv2d | nn.ConvTranspose2d, rank: list[int]):
        super().__init__()
        r_out, r_in = rank
        self.rank = [r_out, r_in]
        self.parts.append(nn.Conv2d(conv.in_channels, r_in, 1, bias=False))
        if isinstance(conv, nn.ConvTranspose2d):
            core: nn.Module = nn.ConvTranspose2d(
                r_in,
                r_out,
                conv.kernel_size,
                stride=conv.stride,
                padding=conv.padding,
                output_padding=conv.output_padding,
                dilation=conv.dilation,
                bias=False,
            )
        else:
            core = nn.Conv2d(
                r_in,
                r_out,
                conv.kernel_size,
                stride=conv.stride,
                padding=conv.padding,
                dilation=conv.dilation,
                bias=False,
                padding_mode=conv.padding_mode,
            )
        self.parts.append(core)
        self.parts.append(nn.Conv2d(r_out, conv.out_channels, 1, bias=conv.bias is not None))


class LowRankLinear(Factorised):
    method = "svd"

    def __init__(self, linear: nn.Linear, rank: int):
        super().__init__()
        self.rank = rank
        self.parts.append(nn.Linear(linear.in_features, rank, bias=False))
        self.parts.append(nn.Linear(rank, linear.out_features, bias=linear.bias is not None))


class LowRankConv1x1(Factorised):
    """A 1×1 conv (any stride) at rank R: 1×1 conv C_in→R (carries the stride) → 1×1 conv R→C_out."""

    method = "svd"

    def __init__(self, conv: nn.Conv2d, rank: int):
        super().__init__()
        self.rank = rank
        # padding on the first conv: padded positions give zeros there, so the output is the bias, as before
        self.parts.append(
            nn.Conv2d(conv.in_channels, rank, 1, stride=conv.stride, padding=conv.padding, bias=False)
        )
        self.parts.append(nn.Conv2d(rank, conv.out_channels, 1, bias=conv.bias is not None))


def num_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# Shape maths of the factorised layers (no fitting): what a plan needs to rebuild a model from its spec.
METHODS = ("cp", "tucker")


def _is_1x1(layer: nn.Module) -> bool:
    return isinstance(layer, nn.Conv2d) and _pair(layer.kernel_size) == (1, 1)


def resolve_method(layer: nn.Module, method: str) -> str:
    """Linear layers and 1×1 convs are matrices: both methods reduce to a truncated SVD."""
    matrix = isinstance(layer, nn.Linear) or _is_1x1(layer)
    if method not in METHODS and not (method == "svd" and matrix):
        raise UsageError(f"--method {method!r}: expected one of {', '.join(METHODS)}")
    return "svd" if matrix else method


def _dims(layer: nn.Module) -> tuple[int, int, int, int]:
    """(C_out, C_in, kh, kw) of a conv / transposed conv / linear (k=1)."""
    if isinstance(layer, nn.Linear):
        return layer.out_features, layer.in_features, 1, 1
    kh, kw = _pair(layer.kernel_size)
    return layer.out_channels, layer.in_channels, kh, kw


def max_rank(layer: nn.Module, method: str) -> int:
    """The largest rank a layer allows.

    SVD: min(in, out). CP: the product of all kernel dimensions but the largest — the generic upper
    bound of the CP rank, at which an exact decomposition always exists. Tucker-2: max(C_in, C_out)
    (an integer rank is clipped per mode to C_out and C_in; at the maximum it is exact).
    """
    method = resolve_method(layer, method)
    c_out, c_in, kh, kw = _dims(layer)
    if method == "svd":
        return min(c_in, c_out)
    if method == "tucker":
        return max(c_in, c_out)
    dims = sorted((c_out, c_in, kh, kw))
    return dims[0] * dims[1] * dims[2]


def normalise_rank(
    layer: nn.Module, method: str, rank: int | list[int], name: str = "layer"
) -> int | list[int]:
    """Validate a rank for a layer; Tucker ranks become [R_out, R_in]."""
    method = resolve_method(layer, method)
    c_out, c_in, _, _ = _dims(layer)
    if method == "tucker":
        if isinstance(rank, int):
            if not 1 <= rank <= max(c_in, c_out):
                raise UsageError(
                    f"rank {rank} is out of range for {name} (Tucker-2 rank must be "
                    f"1..{max(c_in, c_out)}; it is clipped per mode to C_out={c_out}, C_in={c_in})"
                )
            return [min(rank, c_out), min(rank, c_in)]
        r_out, r_in = int(rank[0]), int(rank[1])
        if not (1 <= r_out <= c_out and 1 <= r_in <= c_in):
            raise UsageError(
                f"rank {list(rank)} is out of range for {name} (Tucker-2 [R_out, R_in] needs "
                f"1 ≤ R_out ≤ {c_out}, 1 ≤ R_in ≤ {c_in})"
            )
        return [r_out, r_in]
    if not isinstance(rank, int):
        raise UsageError(f"rank {rank} for {name}: {method} takes one integer rank")
    top = max_rank(layer, method)
    if not 1 <= rank <= top:
        raise UsageError(
            f"rank {rank} is larger than {name} allows ({method} rank must be 1..{top})"
            if rank > top
            else f"rank {rank} for {name} must be at least 1"
        )
    return rank


def factorised_params(layer: nn.Module, method: str, rank: int | list[int]) -> int:
    """Parameter count of the factorised layer, by formula (CP conv: R·(C_in+C_out+kh+kw)+C_out)."""
    method = resolve_method(layer, method)
    c_out, c_in, kh, kw = _dims(layer)
    bias = c_out if getattr(layer, "bias", None) is not None else 0
    if method == "svd":
        return int(rank) * (c_in + c_out) + bias
    if method == "tucker":
        r_out, r_in = normalise_rank(layer, method, rank)
        return c_in * r_in + r_in * r_out * kh * kw + r_out * c_out + bias
    return int(rank) * (c_in + c_out + kh + kw) + bias


def dense_params(layer: nn.Module) -> int:
    c_out, c_in, kh, kw = _dims(layer)
    return c_out * c_in * kh * kw + (c_out if getattr(layer, "bias", None) is not None else 0)


def build_factorised(layer: nn.Module, method: str, rank: int | list[int]) -> Factorised:
    """An un-fitted factorised module of the right shapes (what `apply_plan` uses)."""
    method = resolve_method(layer, method)
    kind = layer_type(layer)
    if kind is None:
        raise SpecError(
            f"{type(layer).__name__} is not a decomposable layer (Conv2d, ConvTranspose2d, Linear)"
        )
    if getattr(layer, "groups", 1) != 1:
        raise SpecError(f"grouped convolutions (groups={layer.groups}) are not decomposed")
    rank = normalise_rank(layer, method, rank)
    if method == "svd":
        return LowRankLinear(layer, rank) if kind == "linear" else LowRankConv1x1(layer, rank)
    if method == "tucker":
        return TuckerConv(layer, rank)
    return CPConv2d(layer, rank) if kind == "conv2d" else CPConvTranspose2d(layer, rank)
