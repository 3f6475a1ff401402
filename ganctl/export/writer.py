"""Export a generator artifact for deployment: ONNX (for ONNX Runtime) or TorchScript (for libtorch).

The exported graph is the module ganctl itself runs (dense, compressed with its factorised layers, or
sparse with its zeros), in fp32 on CPU, so outputs match `ganctl sample` to float rounding. Every
export is checked by running it (onnxruntime / torch.jit.load) against the PyTorch module before the
file is moved into place, so a file that exists is a file that works.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ganctl.errors import SpecError, UsageError
from ganctl.export import DEFAULT_OPSET, FORMATS
from ganctl.io.atomic import atomic_target
from ganctl.models.artifact import load_generator

CHECK_ATOL = 1e-4  # fp32 graphs agree to ~1e-6 on images in [-1, 1]; 1e-4 leaves room for other kernels


@dataclass
class ExportResult:
    output: str
    format: str
    batch: int | None  # None: the batch dimension is dynamic
    latent_dim: int
    resolution: int
    max_abs_diff: float  # exported vs PyTorch on the check batch
    num_params: int


def _need_onnx() -> None:
    try:
        import onnx  # noqa: F401  # lazy: optional dependency (pip install 'ganctl[export]')
        import onnxruntime  # noqa: F401  # lazy: optional dependency
    except ImportError as e:
        raise UsageError(
            f"--format onnx needs the onnx and onnxruntime packages ({e.name} is missing); "
            "install them with: pip install 'ganctl[export]'"
        ) from None


class _FixedBatch(nn.Module):
    """TorchScript traces are batch-polymorphic; this wrapper makes a fixed --batch a checked contract."""

    def __init__(self, inner: nn.Module, batch: int):
        super().__init__()
        self.inner = inner
        self.batch = batch

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.shape[0] != self.batch:
            raise RuntimeError(f"this generator was exported for batch {self.batch}, got {z.shape[0]}")
        return self.inner(z)


def _export_onnx(G: nn.Module, z: torch.Tensor, path: Path, dynamic: bool, opset: int) -> None:
    axes = {"z": {0: "batch"}, "images": {0: "batch"}} if dynamic else None
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation and tracer notes are not for users
        # dynamo=False: the TorchScript-based exporter needs no onnxscript and handles every ganctl layer
        torch.onnx.export(G, (z,), str(path), input_names=["z"], output_names=["images"], dynamic_axes=axes,
                          opset_version=opset, do_constant_folding=True, dynamo=False)


def _run_onnx(path: Path, z: torch.Tensor) -> torch.Tensor:
    import onnxruntime as ort  # lazy: optional dependency, checked by _need_onnx

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return torch.from_numpy(session.run(["images"], {"z": z.numpy()})[0])


def _export_torchscript(G: nn.Module, z: torch.Tensor, path: Path, batch: int | None) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch ≥ 2.9 marks TorchScript deprecated; libtorch users still load it
        traced = torch.jit.trace(G, (z,), check_trace=False)
        module = traced if batch is None else torch.jit.script(_FixedBatch(traced, batch))
        torch.jit.save(module, str(path))


def _run_torchscript(path: Path, z: torch.Tensor) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = torch.jit.load(str(path), map_location="cpu")
    with torch.no_grad():
        return loaded(z)


def export_generator(
    artifact: str | Path,
    out: str | Path,
    fmt: str = "onnx",
    *,
    batch: int = 1,
    dynamic_batch: bool = False,
    opset: int = DEFAULT_OPSET,
    force: bool = False,
    seed: int = 0,
) -> ExportResult:
    """Write `artifact`'s generator to `out` as ONNX or TorchScript; input `z` (B, latent_dim) → `images` in [-1, 1].

    With `dynamic_batch` any batch size runs; otherwise the file is for exactly `batch` latents.
    """
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r} is not known (choose {' | '.join(FORMATS)})")
    out = Path(out)
    if out.suffix.lower() not in FORMATS[fmt]:
        raise UsageError(f"--out {out}: a {fmt} file should be named *{' or *'.join(FORMATS[fmt])}")
    if batch < 1:
        raise UsageError(f"--batch must be positive, got {batch}")
    if out.exists() and not force:
        raise UsageError(f"--out {out} already exists (pass --force to replace it)")
    if out.is_dir():
        raise UsageError(f"--out {out} is a folder; give a file name")
    if fmt == "onnx":
        _need_onnx()
    G, info = load_generator(artifact, "cpu")
    G = G.float().eval()
    for p in G.parameters():
        p.requires_grad_(False)
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(batch, G.latent_dim, generator=gen)
    # dynamic exports are checked at a batch size other than the traced one, so a baked-in size shows up
    z_check = torch.randn(batch + 2, G.latent_dim, generator=gen) if dynamic_batch else z
    with torch.no_grad():
        expected = G(z_check)
    with atomic_target(out) as tmp:
        if fmt == "onnx":
            _export_onnx(G, z, tmp, dynamic_batch, opset)
            got = _run_onnx(tmp, z_check)
        else:
            _export_torchscript(G, z, tmp, None if dynamic_batch else batch)
            got = _run_torchscript(tmp, z_check)
        if got.shape != expected.shape:
            raise SpecError(f"exported model gives shape {tuple(got.shape)}, expected {tuple(expected.shape)}",
                                 artifact)
        diff = float((got - expected).abs().max())
        if not diff <= CHECK_ATOL:  # also catches NaN
            raise SpecError(f"exported {fmt} model differs from the PyTorch generator by {diff:.3g} "
                                 f"(> {CHECK_ATOL}); nothing written", artifact)
    return ExportResult(str(out), fmt, None if dynamic_batch else batch, G.latent_dim, G.resolution, diff,
                        info.num_params)
