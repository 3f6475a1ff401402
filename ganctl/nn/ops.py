"""Op registry for the cell search spaces (methods §4.1, §4.3).

Every conv op is pre-activation: act → conv (no norm inside cells). Names are the
ganctl names stored in genotype files; ``OP_ALIASES`` maps names used by the public
AdversarialNAS-family code onto them for the index-matrix importer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganctl.errors import SpecError
from ganctl.nn.activations import make_activation
from ganctl.nn.spectral import spectral_norm

NORMAL_OPS = ("none", "skip", "conv_1x1", "conv_3x3", "conv_5x5", "dil_conv_3x3", "dil_conv_5x5")
UP_OPS = ("nearest", "bilinear", "bicubic", "deconv")
DOWN_OPS = ("avg_pool", "max_pool", "conv_3x3", "conv_5x5", "dil_conv_3x3", "dil_conv_5x5")
# alphaGAN: no none/skip; plain and depthwise-separable convs.
ALPHAGAN_OPS = ("conv_1x1", "conv_3x3", "conv_5x5", "sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7")
ALPHAGAN_UP_OPS = ("deconv", "nearest", "bilinear")

SEARCH_SPACES: dict[str, dict[str, tuple[str, ...]]] = {
    "adversarialnas": {"up": UP_OPS, "normal": NORMAL_OPS, "down": DOWN_OPS},
    "alphagan": {"up": ALPHAGAN_UP_OPS, "normal": ALPHAGAN_OPS, "down": DOWN_OPS},
}
KNOWN_OPS: dict[str, frozenset[str]] = {
    "up": frozenset(UP_OPS) | frozenset(ALPHAGAN_UP_OPS),
    "normal": frozenset(NORMAL_OPS) | frozenset(ALPHAGAN_OPS),
    "down": frozenset(DOWN_OPS),
}
OP_ALIASES = {
    "skip_connect": "skip",
    "ConvTranspose": "deconv",
    "convT": "deconv",
    "conv_transpose": "deconv",
    "avg_pool_2x2": "avg_pool",
    "max_pool_2x2": "max_pool",
}

_CONV_GEOMETRY = {  # name -> (kernel, dilation, separable)
    "conv_1x1": (1, 1, False),
    "conv_3x3": (3, 1, False),
    "conv_5x5": (5, 1, False),
    "dil_conv_3x3": (3, 2, False),
    "dil_conv_5x5": (5, 2, False),
    "sep_conv_3x3": (3, 1, True),
    "sep_conv_5x5": (5, 1, True),
    "sep_conv_7x7": (7, 1, True),
}


class Zero(nn.Module):
    """The 'none' op as a module (cells omit none edges; mixed ops in search need it)."""

    def __init__(self, stride: int = 1):
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


class ActConv(nn.Module):
    """act → conv (optionally dilated, strided, or depthwise-separable)."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel: int,
        *,
        dilation: int = 1,
        stride: int = 1,
        separable: bool = False,
        act: str | None = "relu",
    ):
        super().__init__()
        self.act = make_activation(act) if act else nn.Identity()
        pad = dilation * (kernel - 1) // 2
        if separable:
            self.depthwise = nn.Conv2d(
                c_in, c_in, kernel, stride, pad, dilation=dilation, groups=c_in, bias=False
            )
            self.conv = nn.Conv2d(c_in, c_out, 1)
        else:
            self.depthwise = None
            self.conv = nn.Conv2d(c_in, c_out, kernel, stride, pad, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(x)
        if self.depthwise is not None:
            h = self.depthwise(h)
        return self.conv(h)


class Up(nn.Module):
    """×2 upsampling edge: interpolate → act → 1×1 conv, or act → depthwise 3×3 deconv → 1×1 conv."""

    def __init__(self, c_in: int, c_out: int, mode: str, act: str | None = "relu"):
        super().__init__()
        self.mode = mode
        self.act = make_activation(act) if act else nn.Identity()
        if mode == "deconv":
            self.deconv = nn.ConvTranspose2d(
                c_in, c_in, 3, stride=2, padding=1, output_padding=1, groups=c_in, bias=False
            )
            self.conv = nn.Conv2d(c_in, c_out, 1, bias=False)
        else:
            self.deconv = None
            self.conv = nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.deconv is not None:
            return self.conv(self.deconv(self.act(x)))
        return self.conv(self.act(F.interpolate(x, scale_factor=2, mode=self.mode)))


class Pool(nn.Module):
    def __init__(self, mode: str):
        super().__init__()
        self.pool = nn.AvgPool2d(2, 2) if mode == "avg_pool" else nn.MaxPool2d(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(x)


def canonical_op(name: str) -> str:
    return OP_ALIASES.get(name, name)


def make_op(
    name: str,
    c_in: int,
    c_out: int,
    *,
    kind: str = "normal",
    act: str | None = "relu",
    stride: int = 1,
    sn_mode: str = "none",
    sn_scale: float = 1.0,
) -> nn.Module:
    """Build one edge op. ``kind`` is normal|up|down; down ops always use stride 2.

    ``sn_mode`` (none|sn|ssn|bsn|bssn) is applied to every conv inside the op (discriminator cells).
    """
    if kind not in KNOWN_OPS:
        raise SpecError(f"unknown op kind {kind!r} (choose up, normal or down)")
    if name not in KNOWN_OPS[kind]:
        raise SpecError(f"unknown {kind} op {name!r} (known: {', '.join(sorted(KNOWN_OPS[kind]))})")
    if kind == "down":
        stride = 2
    if name == "none":
        return Zero(stride)
    if name == "skip" or name in ("avg_pool", "max_pool"):
        if c_in != c_out:
            raise SpecError(f"op {name!r} needs equal input and output channels, got {c_in} and {c_out}")
        if name == "skip":
            if stride != 1:
                raise SpecError("op 'skip' cannot be strided")
            return nn.Identity()
        return Pool(name)
    if kind == "up":
        op: nn.Module = Up(c_in, c_out, name, act)
    else:
        kernel, dilation, separable = _CONV_GEOMETRY[name]
        op = ActConv(c_in, c_out, kernel, dilation=dilation, stride=stride, separable=separable, act=act)
    if sn_mode != "none":
        for m in op.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                spectral_norm(m, sn_mode, sn_scale)
    return op
