"""QualityProxy: the cheap FID stand-in used inside training (in-loop eval) and compression (ARD probes).

Reference statistics are computed (or loaded from the cache) once; every score reuses one fixed set
of noise, so successive scores differ only because the generator changed. The name says it is a
proxy, how many samples and which extractor, e.g. `fid2k_train_randconv_proxy`.
"""

from __future__ import annotations

import torch
from torch import nn

from ganctl.errors import UsageError
from ganctl.evaluate.extractors import (
    INCEPTION,
    RANDCONV,
    Extractor,
    build_extractor,
    extract_features,
    inception_weights_available,
)
from ganctl.evaluate.generate import check_precision, generate_from_noise, make_noise
from ganctl.evaluate.protocol import format_count
from ganctl.evaluate.reference import ImageDataLike, reference_stats
from ganctl.evaluate.stats import feature_stats, frechet_distance


def resolve_proxy_extractor(name: str, device: torch.device, weights: str | None) -> str:
    """'auto' = Inception where it is cheap and needs no download (CUDA + local weights), else randconv."""
    if name != "auto":
        return name
    if device.type == "cuda" and inception_weights_available(weights):
        return INCEPTION
    return RANDCONV


class QualityProxy:
    """FID of `n_samples` generated vs `n_samples` reference images, one extractor, fixed noise."""

    def __init__(  # size: public constructor (ganctl.evaluate.QualityProxy); train, compress and bench name each
        self,
        data: ImageDataLike,
        n_samples: int = 2000,
        extractor: str = "auto",
        seed: int = 0,
        batch_size: int = 250,
        device: torch.device | str = "cpu",
        inception_weights: str | None = None,
        precision: str = "fp32",
        split: str = "train",
        use_cache: bool = True,
    ):
        if n_samples < 2:
            raise UsageError(f"proxy sample count must be at least 2, got {n_samples}")
        self.device = torch.device(device)
        self.n_samples = int(n_samples)
        self.seed = int(seed)
        self.batch_size = int(batch_size)
        self.precision = check_precision(precision)
        self.extractor: Extractor = build_extractor(
            resolve_proxy_extractor(extractor, self.device, inception_weights), self.device, inception_weights
        )
        self.reference = reference_stats(
            data,
            self.extractor,
            num_images=self.n_samples,
            device=self.device,
            batch_size=self.batch_size,
            use_cache=use_cache,
            subset_seed=self.seed,
        )
        short = "inception" if self.extractor.name == INCEPTION else self.extractor.name
        self.name = f"fid{format_count(self.n_samples)}_{split}_{short}_proxy"
        self._noise: dict[int, torch.Tensor] = {}

    def noise(self, latent_dim: int) -> torch.Tensor:
        if latent_dim not in self._noise:
            self._noise[latent_dim] = make_noise(self.n_samples, latent_dim, self.seed)
        return self._noise[latent_dim]

    @torch.no_grad()
    def score(self, G: nn.Module) -> float:
        """Proxy FID of G (lower is better). G stays on its own device and its train/eval mode is restored."""
        param = next(iter(G.parameters()), None)
        gen_device = param.device if param is not None else self.device
        batches = generate_from_noise(
            G, self.noise(int(G.latent_dim)), self.batch_size, gen_device, self.precision
        )
        feats = extract_features(self.extractor, batches, self.device).features
        return frechet_distance(feature_stats(feats), self.reference.stats)

    def record(self) -> dict:
        """What a stats.jsonl line or metrics.json should say about this proxy."""
        return {
            "name": self.name,
            "n_samples": self.n_samples,
            "extractor": self.extractor.name,
            "weights_sha256": self.extractor.weights_sha256,
            "seed": self.seed,
            "reference_key": self.reference.record["key"],
            "precision": self.precision,
            "proxy": True,
        }
