"""One small generator artifact for the evaluate/sample tests: the published cell at width 8, 32 px."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganctl.genotype import load_genotype
from ganctl.io.artifact import save_generator
from ganctl.models import build_generator, generator_spec


def tiny_generator_artifact(folder: Path, provenance: dict[str, Any] | None = None,
                            resolution: int = 32) -> tuple[Path, nn.Module]:
    """Seeded (the same weights every time), saved as `folder/generator.safetensors`."""
    torch.manual_seed(0)
    G = build_generator(generator_spec(load_genotype("mmd-adversarialnas-cifar10"), resolution=resolution, width=8,
                                       latent_dim=12, activation="pmish"))
    path = folder / "generator.safetensors"
    save_generator(path, G.eval(), {"step": 0, **(provenance or {})})
    return path, G
