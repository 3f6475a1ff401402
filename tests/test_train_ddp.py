"""2 processes (gloo, CPU) == 1 process with the same global batch, to float tolerance."""
from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from ganctl.io.checkpoint import load_checkpoint


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out: str, cache: str) -> None:
    os.environ.update({"RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "GANCTL_CACHE": cache})
    torch.set_num_threads(1)
    import train_standins

    from ganctl.train import loop
    from ganctl.train.config import resolve_config

    loop.build_models = train_standins.build_standins
    cfg = resolve_config("tiny", {"out": out, "device": "cpu", "resolution": 16, "latent_dim": 8,
                                  "d_out_dim": 4, "batch_size": 8, "steps": 3, "eval_every": 0,
                                  "checkpoint_every": 3, "log_every": 1, "lr_g": 1e-2, "lr_d": 1e-2})
    loop.train(cfg)


@pytest.mark.parametrize("loss", ["mmd"])
def test_two_gloo_processes_match_one(tmp_path, loss):
    cache = str(tmp_path / "cache")
    for world, name in ((1, "one"), (2, "two")):
        mp.spawn(_worker, args=(world, _free_port(), str(tmp_path / name), cache), nprocs=world, join=True)
    a = load_checkpoint(tmp_path / "one" / "checkpoint.pt", "train")
    b = load_checkpoint(tmp_path / "two" / "checkpoint.pt", "train")
    assert a["step"] == b["step"] == 3
    moved = False
    for part in ("G", "D", "ema"):
        for k in a[part]:
            torch.testing.assert_close(a[part][k], b[part][k], rtol=1e-4, atol=1e-5)
    g0 = {k: v for k, v in a["G"].items()}
    moved = any(g0[k].abs().sum() > 0 for k in g0)
    assert moved
