"""ganctl: search, train, compress, evaluate and sample small, high-quality GANs.

The functions here mirror the subcommands (`ganctl.train(...)` does what `ganctl train ...` does) and
are thin wrappers over the cores in the subpackages. Each imports its core inside the function, so
`import ganctl` stays fast and does not pull in torch until a function is used.

    import ganctl
    G = ganctl.load_generator("runs/train/generator.safetensors")
    images = ganctl.sample(G, num=16, seed=1)                  # uint8 N×3×H×W
    scores = ganctl.evaluate(G, data="cifar10", metrics=["fid10k"])
    scores = ganctl.evaluate(lambda z: my_net(z), data="cifar10", latent_dim=128)  # any z → [-1, 1] callable
"""

from __future__ import annotations

import functools
import importlib
import sys
import types
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only for type checkers: keeps `import ganctl` free of torch
    import torch
    from torch import nn

    from ganctl.export.writer import ExportResult
    from ganctl.genotype import Genotype

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "compress",
    "evaluate",
    "export",
    "load_generator",
    "load_genotype",
    "sample",
    "search",
    "train",
]

PathLike = str | Path


def load_generator(path: PathLike, device: str = "cpu") -> nn.Module:
    """A generator artifact (dense, compressed or sparse) as an eval-mode module with `.spec`, `.latent_dim`,
    `.resolution` and `.artifact` (the header: provenance, parameter counts, sha256)."""
    from ganctl.models.artifact import load_generator as _load  # lazy: `import ganctl` loads no torch
    from ganctl.runtime import resolve_device  # lazy: `import ganctl` loads no torch

    G, info = _load(path, resolve_device(device))
    G.artifact = info
    return G


def load_genotype(path_or_name: PathLike) -> Genotype:
    """A genotype from a genotype.json file or a built-in name (e.g. "mmd-adversarialnas-cifar10")."""
    from ganctl.genotype import load_genotype as _load  # lazy: `import ganctl` loads no torch

    return _load(path_or_name)


def train(
    out: PathLike,
    *,
    preset: str = "cifar10-large",
    data: str | None = None,
    genotype: str | None = None,
    resume: bool = False,
    force: bool = False,
    **options: Any,
) -> dict[str, Any]:
    """Train a GAN into the run folder `out`, like `ganctl train`; returns the run summary (status.json).

    `options` are the train flags with underscores (steps=40, batch_size=16, device="cpu", ...); values
    not given come from `preset`. With `resume=True` the saved config of `out` is used and `options`
    may only change what `allow_change=[...]` names.
    """
    from ganctl.train.config import (  # lazy: `import ganctl` loads no stage
        load_saved,
        resolve_config,
        resume_config,
        training_precision,
    )
    from ganctl.train.loop import train as _train  # lazy: `import ganctl` loads no torch

    allow_change = list(options.pop("allow_change", None) or [])
    values = {"out": str(out), "data": data, "genotype": genotype, **options}
    if resume:
        cfg = resume_config(load_saved(str(out)), values, allow_change)
    else:
        values["precision"] = training_precision(values)
        cfg = resolve_config(preset, values)
    return _train(cfg, resume=resume, force=force)


def search(
    out: PathLike,
    *,
    data: str = "shapes",
    method: str = "adversarialnas",
    preset: str = "cifar10",
    resume: bool = False,
    force: bool = False,
    **options: Any,
) -> dict[str, Any]:
    """Search cell architectures into `out`, like `ganctl search`; returns the result (genotype path, ...).

    `options` are the search flags with underscores (steps=20, device="cpu", budget="30m", ...).
    """
    from ganctl.search.config import make_config, parse_budget  # lazy: `import ganctl` loads no torch
    from ganctl.search.loop import run_search  # lazy: `import ganctl` loads no torch

    if "budget" in options:
        options["budget_s"] = parse_budget(options.pop("budget"))
    cfg = make_config(method, preset, out=str(out), data=data, **options)
    return run_search(cfg, resume=resume, force=force).to_dict()


def compress(artifact: PathLike, out: PathLike, *, rank: str | int = "auto", method: str = "cp",
             **options: Any) -> dict[str, Any]:
    """Decompose a generator artifact (CP / Tucker-2, ARD ranks) and optionally fine-tune, like `ganctl compress`.

    `rank` is "auto", an integer for every layer, or a PLAN.json path; `options` are the compress flags
    with underscores (target_params=0.5, finetune_steps=100, data="cifar10", device="cpu", ...).
    """
    from ganctl.compress.stage import CompressConfig  # lazy: `import ganctl` loads no torch
    from ganctl.compress.stage import compress as _compress  # lazy: `import ganctl` loads no torch

    return _compress(CompressConfig(artifact=str(artifact), out=str(out), rank=str(rank), method=method, **options))


def _as_generator(generator: Any, latent_dim: int | None) -> tuple[str, Any, Any]:
    """(name, module, artifact info) from a path, a ganctl module, or any z → images callable."""
    from torch import nn  # lazy: `import ganctl` loads no torch

    if isinstance(generator, (str, Path)):
        G = load_generator(generator)
        return Path(generator).name, G, G.artifact
    if isinstance(generator, nn.Module) and hasattr(generator, "latent_dim") and latent_dim is None:
        return type(generator).__name__, generator, getattr(generator, "artifact", None)
    if not callable(generator):
        raise TypeError(f"generator must be a path, a module or a callable, got {type(generator).__name__}")
    if latent_dim is None:
        raise TypeError("a callable generator needs latent_dim= (the size of the z it takes)")

    class CallableGenerator(nn.Module):
        """Adapts clean-fid-style `gen(z)` callables: z (B, latent_dim) on the device → images in [-1, 1]."""

        def __init__(self) -> None:
            super().__init__()
            self.latent_dim = int(latent_dim)
            self.fn = generator

        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return self.fn(z)

    return getattr(generator, "__name__", "generator"), CallableGenerator(), None


def evaluate(  # size: the public API spells out the evaluate flags it accepts
    generator: PathLike | nn.Module | Callable[[torch.Tensor], torch.Tensor],
    data: Any = "cifar10",
    metrics: Sequence[str] = ("fid",),
    num_samples: int | None = None,
    seeds: Sequence[int] = (0,),
    *,
    latent_dim: int | None = None,
    data_root: str | None = None,
    resolution: int | None = None,
    cost: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """FID / KID / IS / precision-recall of one generator, with the protocol (what `metrics.json` holds).

    `generator`: an artifact path, a module with `.latent_dim`, or any callable z → images in [-1, 1]
    (then pass `latent_dim`), as clean-fid's `gen=`. `data`: a dataset name as for `--data`, or a loaded
    `ImageData`. Metric names carry their protocol (fid10k_train, kid, pr, is). `options` are
    `ganctl.evaluate.api.EvalRequest` fields (extractor, inception_weights, device, batch_size, ...).
    Returns the metrics.json dict; scores are under result["artifacts"][0]["metrics"].
    """
    from ganctl.evaluate.api import EvalRequest, evaluate_artifacts  # lazy: `import ganctl` loads no torch

    name, G, info = _as_generator(generator, latent_dim)
    if isinstance(data, str):
        from ganctl.data import load_data  # lazy: `import ganctl` loads no torch

        res = resolution or getattr(G, "resolution", None)
        data = load_data(data, root=data_root, resolution=res)
    log = options.pop("log", None)
    req = EvalRequest(metrics=list(metrics), num_samples=num_samples, seeds=list(seeds), cost=cost, **options)
    return evaluate_artifacts([(name, G, info)], data, req, log=log, progress=progress)


def sample(  # size: the public API spells out the sample flags it accepts
    generator: PathLike | nn.Module,
    num: int = 64,
    seed: int = 0,
    *,
    device: str = "auto",
    batch_size: int = 256,
    precision: str = "auto",
    grid: PathLike | None = None,
    npz: PathLike | None = None,
    out_dir: PathLike | None = None,
    scale: int = 1,
) -> torch.Tensor:
    """`num` images as uint8 N×3×H×W on the CPU, the same for a seed at any batch size (as `ganctl sample`).

    Also writes them when `grid` (a *.png, each image enlarged `scale` times by whole pixels; `scale` needs
    `grid`), `npz` (key 'x', N×H×W×3) or `out_dir` (numbered PNGs) is given. Arguments are checked as
    `ganctl sample` checks its flags, before anything is written: a bad one raises UsageError, whose message
    names the matching CLI flag (`--scale` for `scale`).
    """
    from ganctl.evaluate.generate import Generation, generate_uint8  # lazy: `import ganctl` loads no torch
    from ganctl.evaluate.sample import sample_to_dir, save_grid, write_npz  # lazy: `import ganctl` loads no torch
    from ganctl.runtime import resolve_device, resolve_precision  # lazy: `import ganctl` loads no torch
    from ganctl.sample.stage import SampleConfig, check  # lazy: `import ganctl` loads no torch

    source = Path(generator) if isinstance(generator, (str, Path)) else Path("<module>")  # check() never reads it
    check(SampleConfig(source, num=num, grid=_path(grid), out_dir=_path(out_dir), npz=_path(npz), scale=scale,
                       batch_size=batch_size, precision=precision, device=device, seed=seed), any_destinations=True)
    G = load_generator(generator) if isinstance(generator, (str, Path)) else generator
    dev = resolve_device(device)
    precision = resolve_precision(precision, dev)  # auto: bf16 on a GPU, fp32 on the CPU, as `ganctl sample`
    images = generate_uint8(G, num, seed, batch_size, dev, precision)
    if grid is not None:
        save_grid(images, grid, scale=scale)
    if npz is not None:
        write_npz(images, npz)
    if out_dir is not None:  # streamed again batch by batch: the same pixels, written as they come
        sample_to_dir(G, num, seed, out_dir, Generation(dev, batch_size, precision))
    return images


def _path(value: PathLike | None) -> Path | None:
    return None if value is None else Path(value)


def export(artifact: PathLike, out: PathLike, format: str = "onnx", *, batch: int = 1,  # noqa: A002
           dynamic_batch: bool = False, force: bool = False) -> ExportResult:
    """Write an artifact's generator as ONNX or TorchScript, checked by running it (as `ganctl export`)."""
    from ganctl.export.writer import export_generator  # lazy: `import ganctl` loads no torch

    return export_generator(artifact, out, format, batch=batch, dynamic_batch=dynamic_batch, force=force)


# `ganctl.train` is both a function (this API) and a subpackage (the core). Importing a subpackage would
# normally overwrite the function with the module, so each API function is wrapped in a callable that
# also forwards attribute access to its subpackage (`ganctl.train.loop` keeps working), and the package
# keeps the wrapper when the import system tries to set the submodule.
_SHADOWED = ("compress", "evaluate", "export", "sample", "search", "train")


class _ApiFunction:
    """Calls the API function; attributes not its own come from the subpackage of the same name."""

    def __init__(self, func: Callable[..., Any], module: str):
        functools.update_wrapper(self, func)
        object.__setattr__(self, "_module", module)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.__wrapped__(*args, **kwargs)

    def _target(self) -> types.ModuleType:
        return importlib.import_module(self._module)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):  # inspect/help/pickle probe dunders: never a submodule
            raise AttributeError(name)
        module = self._target()
        try:
            return getattr(module, name)
        except AttributeError:
            pass
        try:
            return importlib.import_module(f"{self._module}.{name}")  # a not-yet-imported submodule
        except ModuleNotFoundError as exc:
            if exc.name != f"{self._module}.{name}":
                raise  # the submodule exists but imports something missing: that error is the user's news
            raise AttributeError(f"{self._module!r} has no attribute {name!r}") from None

    def __repr__(self) -> str:
        return f"<ganctl function {self.__wrapped__.__name__} (subpackage {self._module})>"


class _Package(types.ModuleType):
    def __setattr__(self, name: str, value: Any) -> None:
        if name in _SHADOWED and isinstance(value, types.ModuleType):
            return  # the submodule stays reachable through sys.modules and the wrapper
        super().__setattr__(name, value)


for _name in _SHADOWED:
    globals()[_name] = _ApiFunction(globals()[_name], f"{__name__}.{_name}")
sys.modules[__name__].__class__ = _Package
del _name
