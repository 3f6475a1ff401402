"""state_dict_sha256 identifies in-memory weights (stats-cache keys): every tensor rank, an independent hash."""

import hashlib

import numpy as np
import torch
from torch import nn

from ganctl.evaluate.extractors import RandConvFeatures, state_dict_sha256


def _independent(state: dict[str, torch.Tensor]) -> str:
    """The documented recipe (name|dtype|shape|raw bytes, keys sorted) written with numpy, not torch views."""
    h = hashlib.sha256()
    for key, value in sorted(state.items()):
        t = value.detach().cpu()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(np.ascontiguousarray(t.numpy()).tobytes())
    return h.hexdigest()


class _WithScalars(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.register_buffer("step", torch.tensor(7, dtype=torch.int64))  # 0-dim
        self.register_buffer("scale", torch.tensor(0.5))  # 0-dim float
        self.register_buffer("empty", torch.zeros(0, 3))
        self.register_buffer("flag", torch.tensor([True, False]))


def test_hash_takes_zero_dim_and_empty_tensors_and_matches_an_independent_hash():
    net = _WithScalars()
    assert state_dict_sha256(net) == _independent(net.state_dict())


def test_hash_changes_with_a_scalar_buffer_and_is_stable_for_the_proxy_net():
    net = _WithScalars()
    before = state_dict_sha256(net)
    net.step.fill_(8)
    assert state_dict_sha256(net) != before
    proxy = RandConvFeatures()
    assert state_dict_sha256(proxy) == _independent(proxy.state_dict())
