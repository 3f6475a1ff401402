"""The in-loop quality metric: real FID/KID through the Inception network when its weights are at hand,
else the labelled proxy; and the gate that feeds the bound schedule only with real evidence.

`--metric fid10k_train` (any fidN/kidN, as `ganctl evaluate` names them) scores the EMA generator with
the FID Inception on N samples from one fixed noise set against N training images; the name carries the
protocol. `--metric proxy` (the default) is the cheap QualityProxy, named `..._proxy`. Without weights
(no file, no env var, no cache, offline) a requested FID falls back to the proxy and says so.

Noise: every evaluation draws the same latent vectors and compares with the same reference statistics,
so the score is a deterministic function of the generator's weights: scoring an unchanged generator
twice gives the same number bit for bit, and the saturate schedule (methods §3: raise b_u after
`patience` evaluations without improvement) is never moved by sampling noise. The gate also refuses to
count an evaluation of weights it has already judged (same fingerprint) as "no improvement".
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ganctl.errors import InputFileError, UsageError, WeightsUnavailableError
from ganctl.evaluate.extractors import INCEPTION, build_extractor, extract_features, resolve_inception_weights
from ganctl.evaluate.generate import check_precision, generate_from_noise, make_noise
from ganctl.evaluate.protocol import MetricRequest, parse_metrics
from ganctl.evaluate.proxy import QualityProxy
from ganctl.evaluate.reference import ImageDataLike, reference_stats
from ganctl.evaluate.stats import feature_stats, frechet_distance, kernel_inception_distance

PROXY = "proxy"


def parse_train_metric(text: str) -> MetricRequest | None:
    """'proxy' → None; 'fid10k_train' / 'kid5k' / 'fid500' → a request (FID or KID on the train split)."""
    if text.strip().lower() == PROXY:
        return None
    (request,) = parse_metrics([text], None, "train")
    if request.kind not in ("fid", "kid"):
        raise UsageError(f"--metric {text!r}: training can follow fidN, kidN or proxy (lower is better)")
    return request


def check_metric_inputs(metric: str, weights: str | None) -> None:
    """Fail before any training: a metric typo (exit 2) or a named weights file that is not there (exit 3)."""
    parse_train_metric(metric)
    if weights and not Path(weights).expanduser().is_file():
        raise InputFileError("Inception weights file not found (from --inception-weights)", weights)


class InceptionMetric:
    """FID or KID (Inception features) of G on a fixed noise set vs a fixed subset of the training data."""

    is_proxy = False

    def __init__(self, request: MetricRequest, data: ImageDataLike, *, weights: str | None, seed: int,
                 device: torch.device, precision: str = "fp32", batch_size: int = 250):
        if request.num_samples < 2:
            raise UsageError(f"--metric {request.name()}: needs at least 2 samples")
        self.request, self.seed, self.device = request, int(seed), torch.device(device)
        self.precision = check_precision(precision)
        self.batch_size = min(int(batch_size), request.num_samples)
        self.extractor = build_extractor(INCEPTION, self.device, weights)
        self.reference = reference_stats(data, self.extractor, num_images=request.num_samples, device=self.device,
                                         batch_size=self.batch_size, need_features=request.kind == "kid",
                                         subset_seed=self.seed)
        self.name = request.name(INCEPTION)
        self._noise: dict[int, torch.Tensor] = {}

    def noise(self, latent_dim: int) -> torch.Tensor:
        if latent_dim not in self._noise:
            self._noise[latent_dim] = make_noise(self.request.num_samples, latent_dim, self.seed)
        return self._noise[latent_dim]

    @torch.no_grad()
    def score(self, G: nn.Module) -> float:
        param = next(iter(G.parameters()), None)
        gen_device = param.device if param is not None else self.device
        batches = generate_from_noise(G, self.noise(int(G.latent_dim)), self.batch_size, gen_device, self.precision)
        feats = extract_features(self.extractor, batches, self.device).features
        if self.request.kind == "kid":
            assert self.reference.features is not None
            return kernel_inception_distance(feats, self.reference.features)["mean"]
        return frechet_distance(feature_stats(feats), self.reference.stats)


@dataclass
class MetricChoice:
    """What the loop evaluates with, and why (a fallback is stated, never silent)."""

    scorer: InceptionMetric | QualityProxy
    note: str | None = None

    @property
    def name(self) -> str:
        return self.scorer.name

    @property
    def is_proxy(self) -> bool:
        return not isinstance(self.scorer, InceptionMetric)


def build_train_metric(metric: str, data: ImageDataLike, *, eval_samples: int, eval_extractor: str,
                       weights: str | None, seed: int, device: torch.device, precision: str) -> MetricChoice:
    """The requested metric, or the proxy when Inception weights cannot be had (a missing explicit file
    is an error, exit 3, not a fallback)."""
    request = parse_train_metric(metric)
    if request is not None:
        try:
            resolve_inception_weights(weights)
        except WeightsUnavailableError as e:
            note = f"{request.name()} unavailable ({str(e).split(';')[0]}); following the proxy instead"
        else:
            return MetricChoice(InceptionMetric(request, data, weights=weights, seed=seed, device=device,
                                                precision=precision))
    else:
        note = None
    proxy = QualityProxy(data, n_samples=eval_samples, extractor=eval_extractor, seed=seed,
                         batch_size=min(250, eval_samples), device=device, precision=precision,
                         inception_weights=weights)
    return MetricChoice(proxy, note)


def weights_fingerprint(module: nn.Module) -> str:
    """sha256 over every parameter and buffer: identical weights ⇔ identical fingerprint."""
    digest = hashlib.sha256()
    for key, value in module.state_dict().items():
        t = value.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


class ScheduleGate:
    """Feeds the bound schedule one judgement per distinct generator state.

    A repeated evaluation of weights already judged (a resumed run re-scoring its last state, or any
    caller scoring twice) carries no new evidence, so it does not advance the no-improvement counter.
    """

    def __init__(self) -> None:
        self.last: str | None = None

    def should_update(self, G: nn.Module) -> bool:
        fingerprint = weights_fingerprint(G)
        if fingerprint == self.last:
            return False
        self.last = fingerprint
        return True

    def state_dict(self) -> dict[str, str | None]:
        return {"last": self.last}

    def load_state_dict(self, state: dict[str, str | None] | None) -> None:
        self.last = (state or {}).get("last")
