"""Shared pieces of the hardening tests: a tiny real generator artifact, file hashes, a no-hang guard."""
from __future__ import annotations

import contextlib
import hashlib
import signal
from collections.abc import Iterator
from pathlib import Path

import torch


def tiny_generator(width: int = 4, latent_dim: int = 6, seed: int = 0) -> torch.nn.Module:
    from ganctl.genotype import load_genotype
    from ganctl.models import build_generator, generator_spec

    spec = generator_spec(load_genotype("tiny"), resolution=32, width=width, latent_dim=latent_dim,
                          init_seed=seed)
    return build_generator(spec).eval()


def write_tiny_artifact(path: Path, **kw) -> Path:
    from ganctl.io.artifact import save_generator

    save_generator(path, tiny_generator(**kw), {"stage": "test"})
    return path


def tree_hashes(root: Path) -> dict[str, str]:
    """sha256 of every regular file under root (relative path -> hash): what must not change."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()}


@contextlib.contextmanager
def no_hang(seconds: int = 20) -> Iterator[None]:
    """Fail (instead of blocking the suite) if the block takes longer than `seconds`."""
    def boom(*_: object) -> None:
        raise TimeoutError(f"blocked for more than {seconds} s")

    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
