"""Generation and feature extraction without per-batch host syncs give the same numbers as the plain
per-batch path (an independent loop here); 'auto' precision is fp32 on the CPU."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganctl.evaluate.extractors import RandConvFeatures, build_extractor, extract_features
from ganctl.evaluate.generate import generate_uint8, iter_uint8, make_noise, resolve_precision
from ganctl.genotype import load_genotype
from ganctl.models import build_generator, generator_spec


def _G() -> nn.Module:
    return build_generator(generator_spec(load_genotype("tiny"), resolution=32, width=8, latent_dim=12,
                                          init_seed=3))


def test_auto_precision_is_bf16_on_cuda_and_fp32_on_cpu():
    assert resolve_precision("auto", "cpu") == "fp32"
    assert resolve_precision("auto", torch.device("cuda")) == "bf16"
    assert resolve_precision("bf16", "cpu") == "bf16"
    from ganctl.errors import UsageError

    with pytest.raises(UsageError, match="precision"):
        resolve_precision("fp16", "cpu")


def test_generate_equals_the_per_batch_loop():
    G = _G().eval()
    noise = make_noise(23, 12, seed=4)
    with torch.no_grad():
        ref = torch.cat([((G(noise[i:i + 5]) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
                         for i in range(0, 23, 5)])
    got = generate_uint8(G, 23, seed=4, batch_size=7, device="cpu", precision="auto")
    assert got.dtype == torch.uint8 and got.shape == (23, 3, 32, 32) and got.device.type == "cpu"
    assert torch.equal(got, ref)


def test_features_equal_the_per_batch_transfer_path():
    G = _G()
    ext = build_extractor("randconv", "cpu")
    got = extract_features(ext, iter_uint8(G, 30, seed=1, batch_size=8), "cpu")
    net = RandConvFeatures().eval()
    images = generate_uint8(G, 30, seed=1, batch_size=30)
    with torch.no_grad():
        ref = torch.cat([net(images[i:i + 4])[0].cpu() for i in range(0, 30, 4)])
    assert got.features.device.type == "cpu" and got.features.shape == (30, 256)
    torch.testing.assert_close(got.features, ref, rtol=1e-5, atol=1e-6)
