"""Sparse training from scratch (STU-GAN, methods §7): ERK masks, prune and regrow.

Every `every` steps each G layer drops the fraction d(t) of its active weights with the
smallest |w| and regrows as many inactive weights with the largest |grad| (D: static,
or random regrowth). d(t) decays by cosine from `drop` to `drop_end`. Regrown weights
start at zero. The number of active weights per layer never changes, so the density
holds exactly; masks are data (state_dict) and are saved in the checkpoint.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ganctl.errors import InputFileError

DROP_END = 0.005


def maskable(module: nn.Module) -> dict[str, nn.Parameter]:
    """Weights of conv/linear layers (≥2-d parameters); biases, β and norms stay dense."""
    return {name: p for name, p in module.named_parameters() if p.dim() >= 2}


def erk_densities(shapes: dict[str, tuple[int, ...]], density: float) -> dict[str, float]:
    """Erdős–Rényi-kernel densities: layer density ∝ Σdims/Πdims, scaled to the global target.

    Layers whose density would exceed 1 are made dense and the rest re-solved, so the
    total active count equals density·total (up to rounding per layer).
    """
    if density >= 1.0:
        return {k: 1.0 for k in shapes}
    numel = {k: math.prod(s) for k, s in shapes.items()}
    raw = {k: sum(s) / math.prod(s) for k, s in shapes.items()}
    dense: set[str] = set()
    total = sum(numel.values())
    while True:
        budget = density * total - sum(numel[k] for k in dense)
        rest = [k for k in shapes if k not in dense]
        denom = sum(raw[k] * numel[k] for k in rest)
        eps = budget / denom if denom > 0 else 0.0
        over = [k for k in rest if eps * raw[k] > 1.0]
        if not over:
            break
        dense.update(over)
    return {k: 1.0 if k in dense else eps * raw[k] for k in shapes}


def cosine_drop(step: int, total: int, start: float, end: float = DROP_END) -> float:
    if total <= 0:
        return start
    t = min(max(step / total, 0.0), 1.0)
    return end + 0.5 * (start - end) * (1.0 + math.cos(math.pi * t))


class SparseMasks:
    """Masks for one network; `regrow` is 'gradient' (G), 'random' or 'static' (D)."""

    def __init__(self, module: nn.Module, density: float, regrow: str, generator: torch.Generator):
        self.regrow = regrow
        self.density = float(density)
        self.generator = generator
        params = maskable(module)
        dens = erk_densities({k: tuple(p.shape) for k, p in params.items()}, density)
        self.masks: dict[str, torch.Tensor] = {}
        for name, p in params.items():
            n = p.numel()
            keep = min(n, max(1, round(dens[name] * n)))
            order = torch.randperm(n, generator=generator, device=generator.device)
            mask = torch.zeros(n, dtype=torch.bool, device=generator.device)
            mask[order[:keep]] = True
            self.masks[name] = mask.view_as(p).to(p.device)
        self.ever_active = {k: m.clone() for k, m in self.masks.items()}

    @torch.no_grad()
    def apply(self, module: nn.Module) -> None:
        """Zero the inactive weights (after every optimiser step, and on the EMA copy)."""
        params = dict(module.named_parameters())
        for name, mask in self.masks.items():
            params[name].mul_(mask)

    @torch.no_grad()
    def update(self, module: nn.Module, drop_fraction: float) -> int:
        """Prune-and-regrow once; returns how many weights moved. Needs fresh .grad for 'gradient'."""
        if self.regrow == "static" or drop_fraction <= 0:
            return 0
        params = dict(module.named_parameters())
        moved = 0
        for name, mask in self.masks.items():
            p = params[name]
            flat_mask = mask.view(-1)
            active = int(flat_mask.sum())
            inactive = flat_mask.numel() - active
            k = min(int(drop_fraction * active), inactive)
            if k <= 0:
                continue
            w = p.detach().view(-1).abs().float()
            drop_score = torch.where(flat_mask, w, torch.full_like(w, math.inf))
            drop_idx = torch.topk(drop_score, k, largest=False).indices
            if self.regrow == "gradient":
                g = p.grad
                grow_score = g.detach().view(-1).abs().float() if g is not None else torch.zeros_like(w)
            else:
                grow_score = torch.rand(w.shape, generator=self.generator, device=self.generator.device).to(
                    w.device
                )
            # candidates: inactive before this update (a just-dropped weight does not come straight back)
            grow_score = torch.where(flat_mask, torch.full_like(grow_score, -math.inf), grow_score)
            grow_idx = torch.topk(grow_score, k, largest=True).indices
            flat_mask[drop_idx] = False
            flat_mask[grow_idx] = True
            p.view(-1)[grow_idx] = 0.0  # regrown weights start at zero
            p.view(-1)[drop_idx] = 0.0
            self.ever_active[name].view(-1)[grow_idx] = True
            moved += k
        return moved

    def stats(self) -> dict[str, float]:
        total = sum(m.numel() for m in self.masks.values())
        active = sum(int(m.sum()) for m in self.masks.values())
        ever = sum(int(m.sum()) for m in self.ever_active.values())
        return {"density": active / max(total, 1), "exploration": ever / max(total, 1)}

    def state_dict(self) -> dict:
        return {
            "density": self.density,
            "regrow": self.regrow,
            "masks": {k: m.cpu() for k, m in self.masks.items()},
            "ever_active": {k: m.cpu() for k, m in self.ever_active.items()},
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        if set(state["masks"]) != set(self.masks):
            raise InputFileError("sparse masks in the checkpoint do not match the network's layers")
        for k, m in state["masks"].items():
            self.masks[k].copy_(m)
            self.ever_active[k].copy_(state["ever_active"][k])
        self.generator.set_state(state["generator"])
