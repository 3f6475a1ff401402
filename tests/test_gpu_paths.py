"""The CUDA paths, checked where a GPU exists (`pytest -m gpu`; skipped elsewhere): compiled vs eager
train step within bf16 tolerance, fused Adam vs the foreach update, bf16 side-stream generation,
fits on the device, and strict-fp32 features matching the CPU."""

from __future__ import annotations

import copy

import pytest
import torch

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]

CUDA = torch.device("cuda")


def _models():
    from ganctl.genotype import load_genotype
    from ganctl.models import build_discriminator, build_generator, discriminator_spec, generator_spec

    G = build_generator(generator_spec(load_genotype("mmd-adversarialnas-cifar10"), resolution=32, width=32,
                                       latent_dim=32, init_seed=1))
    D = build_discriminator(discriminator_spec("resnet", width=32, resolution=32, out_dim=16, init_seed=2))
    return G.to(CUDA), D.to(CUDA)


def _run_steps(G, D, compiled: bool, precision: str, steps: int = 3):
    from ganctl.core.optim import compile_module, make_adam
    from ganctl.core.step import GANStep, StepModules
    from ganctl.recipe import Recipe
    from ganctl.runtime import World

    G = copy.deepcopy(G).to(memory_format=torch.channels_last)
    D = copy.deepcopy(D).to(memory_format=torch.channels_last)
    gc, dc = (compile_module(G), compile_module(D)) if compiled else (G, D)
    step = GANStep(StepModules(G, D, gc, gc, dc, dc), make_adam(G.parameters(), 2e-4, (0.0, 0.9), CUDA),
                   make_adam(D.parameters(), 2e-4, (0.0, 0.9), CUDA),
                   Recipe(loss="mmd", bound_lower=0.25, mmd_modified_weight=1e-4, dgl_weight=0.0, precision=precision),
                   device=CUDA, world=World(), channels_last=True)
    gen = torch.Generator(device=CUDA).manual_seed(0)
    out = []
    for _ in range(steps):
        real = torch.rand(32, 3, 32, 32, device=CUDA, generator=gen) * 2 - 1
        ld = step.d_step(real, torch.randn(32, 32, device=CUDA, generator=gen))
        lg = step.g_step(real, torch.randn(32, 32, device=CUDA, generator=gen))
        out.append((float(ld), float(lg)))
    return out, G


def test_compiled_step_matches_eager_within_bf16_tolerance():
    G, D = _models()
    eager, g0 = _run_steps(G, D, compiled=False, precision="bf16")
    compiled, g1 = _run_steps(G, D, compiled=True, precision="bf16")
    for a, b in zip(eager, compiled, strict=True):
        assert b == pytest.approx(a, rel=2e-2, abs=1e-3)
    z = torch.randn(16, 32, device=CUDA)
    with torch.no_grad():
        a, b = g0.eval()(z).float(), g1.eval()(z).float()
    assert float((a - b).norm() / a.norm()) < 2e-2


def test_bf16_step_tracks_the_fp32_step():
    G, D = _models()
    fp32, _ = _run_steps(G, D, compiled=False, precision="fp32", steps=1)
    bf16, _ = _run_steps(G, D, compiled=False, precision="bf16", steps=1)
    assert bf16[0] == pytest.approx(fp32[0], rel=5e-2, abs=5e-3)


def test_fused_adam_matches_the_foreach_update():
    from ganctl.core.optim import make_adam

    torch.manual_seed(0)
    p1 = torch.nn.Parameter(torch.randn(1000, device=CUDA))
    p2 = torch.nn.Parameter(p1.detach().clone())
    fused = make_adam([p1], 1e-3, (0.0, 0.9), CUDA)
    plain = torch.optim.Adam([p2], lr=1e-3, betas=(0.0, 0.9), foreach=True)
    assert fused.defaults["fused"] is True
    for _ in range(5):
        g = torch.randn(1000, device=CUDA)
        p1.grad, p2.grad = g.clone(), g.clone()
        fused.step()
        plain.step()
    torch.testing.assert_close(p1, p2, rtol=1e-5, atol=1e-6)


def test_generation_on_cuda_matches_the_cpu_and_bf16_is_close():
    from ganctl.evaluate.generate import generate_uint8

    G, _ = _models()
    G_cpu = copy.deepcopy(G).cpu()
    ref = generate_uint8(G_cpu, 64, seed=3, batch_size=16, device="cpu", precision="fp32")
    fp32 = generate_uint8(G, 64, seed=3, batch_size=16, device=CUDA, precision="fp32", channels_last=False)
    bf16 = generate_uint8(G, 64, seed=3, batch_size=16, device=CUDA, precision="auto")
    assert fp32.device.type == "cpu" and bf16.shape == ref.shape
    assert (fp32.int() - ref.int()).abs().max() <= 2  # fp32 on another device: rounding at .5 edges
    assert (bf16.float() - ref.float()).abs().mean() < 4.0  # bf16 networks: a few grey levels at most


def test_features_on_cuda_are_strict_fp32():
    from ganctl.evaluate.extractors import build_extractor, extract_features

    images = torch.randint(0, 256, (40, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    cpu = extract_features(build_extractor("randconv", "cpu"), [images[:20], images[20:]], "cpu").features
    gpu = extract_features(build_extractor("randconv", CUDA), [images[:20].cuda(), images[20:].cuda()], CUDA).features
    assert gpu.device.type == "cpu"
    assert float((gpu - cpu).norm() / cpu.norm()) < 1e-5  # TF32 would give ~1e-3


def test_fits_on_the_device_match_the_cpu():
    from ganctl.compress.decompose import decompose_layer

    torch.manual_seed(0)
    conv = torch.nn.Conv2d(16, 24, 3, padding=1)
    cpu = decompose_layer(conv, "cp", 6, n_iter=20)
    gpu = decompose_layer(conv.to(CUDA), "cp", 6, n_iter=20, device=CUDA)
    assert gpu.rel_error == pytest.approx(cpu.rel_error, rel=1e-3)
    assert next(gpu.module.parameters()).device.type == "cuda"


def test_flip_masks_live_on_the_gpu():
    from ganctl.data import BatchStream

    images = torch.randint(0, 256, (32, 3, 8, 8), dtype=torch.uint8)
    stream = BatchStream(images, batch_size=8, device=CUDA, seed=1)
    stream.next()
    assert stream._flips.device.type == "cuda"
    assert torch.equal(stream._flips[1].cpu(), stream.flip_mask(0, 1))
