"""Generators/discriminators: published parameter counts, spec rebuilds, op maths, bad specs."""

import json

import pytest
import torch
import torch.nn.functional as F

from ganctl.errors import SpecError
from ganctl.genotype import load_genotype
from ganctl.models import (
    GENERATOR_SPEC_KEYS,
    build_discriminator,
    build_generator,
    discriminator_spec,
    generator_spec,
)
from ganctl.nn.activations import PMish, pmish_betas
from ganctl.nn.cells import GenCell
from ganctl.nn.ops import make_op
from ganctl.nn.spectral import spectral_parametrization


def _params_m(module) -> float:
    return round(sum(p.numel() for p in module.parameters()) / 1e6, 2)


@pytest.mark.parametrize(
    "resolution,width,published", [(32, 256, 20.19), (32, 128, 5.93), (48, 256, 19.47), (48, 128, 5.57)]
)
def test_mmd_adversarialnas_generator_matches_published_size(resolution, width, published):
    g = load_genotype("mmd-adversarialnas-cifar10")
    G = build_generator(
        generator_spec(g, resolution=resolution, width=width, latent_dim=120, activation="pmish")
    )
    assert _params_m(G) == published
    # 6 up edges + 13 convs + head each carry one PMish β
    assert len(pmish_betas(G)) == 20 and all(v == 1.0 for v in pmish_betas(G).values())


def test_exact_parameter_count_by_hand():
    """Width 256, 32 px: linears + 1x1 up convs + skip-ins + 5 3x3 and 8 5x5 convs + head + 20 β."""
    w, c = 256, 40
    linear = sum(c * w * s * s + w * s * s for s in (4, 8, 16))
    conv = lambda k: w * w * k * k + w  # noqa: E731
    expected = linear + 6 * conv(1) + 3 * conv(1) + 5 * conv(3) + 8 * conv(5) + (2 * w + 3 * w * 9 + 3) + 20
    G = build_generator(generator_spec(load_genotype("mmd-adversarialnas-cifar10"), 32, 256, 120, "pmish"))
    assert sum(p.numel() for p in G.parameters()) == expected


def test_16px_generator_differs_from_32px_only_in_its_linears():
    """Same cells (their convs do not depend on size); the three latent linears map to 2, 4 and 8 px maps."""
    geno, w, c = load_genotype("mmd-adversarialnas-cifar10"), 16, 8
    count = {r: sum(p.numel() for p in build_generator(generator_spec(geno, r, w, 24, "pmish")).parameters())
             for r in (16, 32)}
    linear = {r: sum(c * w * s * s + w * s * s for s in sizes) for r, sizes in ((16, (2, 4, 8)), (32, (4, 8, 16)))}
    assert count[32] - count[16] == linear[32] - linear[16]
    G = build_generator(generator_spec(geno, 16, w, 24, "pmish"))
    assert G.bottom_width == 2 and G(torch.randn(3, 24)).shape == (3, 3, 16, 16)


def _tiny_spec(**kw):
    args = dict(resolution=32, width=8, latent_dim=12, activation="pmish", init_seed=3)
    args.update(kw)
    return generator_spec(load_genotype("tiny"), **args)


def test_spec_round_trip_gives_identical_outputs():
    G = build_generator(_tiny_spec())
    with torch.no_grad():
        for p in G.parameters():
            p.add_(0.01 * torch.randn_like(p))  # move away from the seeded init
    G.train()
    G(torch.randn(4, 12))  # update BN running stats
    G.eval()
    spec = json.loads(json.dumps(G.spec))
    assert set(GENERATOR_SPEC_KEYS) <= set(spec)
    H = build_generator(spec)
    H.load_state_dict(G.state_dict(), strict=True)
    H.eval()
    z = torch.randn(5, 12)
    torch.testing.assert_close(G(z), H(z), rtol=0, atol=0)
    out = G(z)
    assert out.shape == (5, 3, 32, 32) and out.abs().max() <= 1.0
    assert G.latent_dim == 12 and G.resolution == 32


def test_seeded_init_is_reproducible_and_seed_sensitive():
    a, b, c = (
        build_generator(_tiny_spec()),
        build_generator(_tiny_spec()),
        build_generator(_tiny_spec(init_seed=4)),
    )
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


@pytest.mark.parametrize("resolution,chunks", [(16, 3), (48, 2), (64, 2), (128, 2), (32, 1)])
def test_other_resolutions_and_latent_layouts(resolution, chunks):
    G = build_generator(_tiny_spec(resolution=resolution, width=4, latent_chunks=chunks))
    assert len(G.latent_proj) == chunks
    assert G(torch.randn(2, 12)).shape == (2, 3, resolution, resolution)


def test_latent_chunks_feed_their_own_linear():
    """Changing only chunk 2 changes the output only through latent_proj[2] (added before cell 2)."""
    G = build_generator(_tiny_spec()).eval()
    z = torch.randn(2, 12)
    z2 = z.clone()
    z2[:, 8:] += 1.0
    with torch.no_grad():
        G.latent_proj[2].weight.zero_()
    torch.testing.assert_close(G(z), G(z2))


def test_gen_cell_forward_by_hand():
    torch.manual_seed(0)
    w = 4
    up0 = make_op("nearest", w, w, kind="up", act="relu")
    up1 = make_op("bilinear", w, w, kind="up", act="relu")
    c0 = make_op("conv_3x3", w, w, act="relu")
    c4 = make_op("dil_conv_3x3", w, w, act="relu")
    cell = GenCell(
        {"up0": up0, "up1": up1, "c0": c0, "c1": None, "c2": make_op("skip", w, w), "c3": None, "c4": c4},
        w,
        n_skip_in=1,
        skip_mode="bilinear",
    )
    x, s = torch.randn(2, w, 4, 4), torch.randn(2, w, 2, 2)
    n0 = F.conv2d(F.relu(F.interpolate(x, scale_factor=2, mode="nearest")), up0.conv.weight, up0.conv.bias)
    n2 = F.conv2d(F.relu(n0), c0.conv.weight, c0.conv.bias, padding=1)
    n2_full = n2 + cell.skip_in[0](F.interpolate(s, size=(8, 8), mode="bilinear"))
    n3 = n0 + F.conv2d(F.relu(n2_full), c4.conv.weight, c4.conv.bias, padding=2, dilation=2)
    skip, out = cell(x, (s,))
    # the skip output includes the cell's own skip-in terms, as in the paper's code (issue #11)
    torch.testing.assert_close(skip, n2_full)
    torch.testing.assert_close(out, n3)


@pytest.mark.parametrize("name,kernel,dil", [("conv_5x5", 5, 1), ("dil_conv_5x5", 5, 2), ("conv_1x1", 1, 1)])
def test_conv_ops_are_act_then_conv(name, kernel, dil):
    op = make_op(name, 3, 5, act="pmish")
    x = torch.randn(2, 3, 9, 9)
    ref = F.conv2d(op.act(x), op.conv.weight, op.conv.bias, padding=dil * (kernel - 1) // 2, dilation=dil)
    assert isinstance(op.act, PMish)
    torch.testing.assert_close(op(x), ref)


def test_down_and_sep_ops():
    x = torch.randn(1, 4, 8, 8)
    torch.testing.assert_close(make_op("avg_pool", 4, 4, kind="down")(x), F.avg_pool2d(x, 2))
    conv = make_op("conv_3x3", 4, 4, kind="down", act=None)
    torch.testing.assert_close(conv(x), F.conv2d(x, conv.conv.weight, conv.conv.bias, stride=2, padding=1))
    sep = make_op("sep_conv_7x7", 4, 6, act=None)
    assert sum(p.numel() for p in sep.parameters()) == 4 * 49 + 4 * 6 + 6
    assert sep(x).shape == (1, 6, 8, 8)
    d = make_op("deconv", 4, 6, kind="up", act=None)
    assert d(x).shape == (1, 6, 16, 16)
    with pytest.raises(SpecError, match="unknown normal op 'conv_9x9'"):
        make_op("conv_9x9", 4, 4)


def test_resnet_discriminator_spec_rebuild_and_norm():
    spec = discriminator_spec("resnet", width=8, resolution=32, out_dim=16, norm="bssn", scale=1.5)
    D = build_discriminator(spec)
    x = torch.randn(3, 3, 32, 32)
    D.train()
    D(x)
    D.eval()
    E = build_discriminator(json.loads(json.dumps(D.spec)))
    E.load_state_dict(D.state_dict(), strict=True)
    E.eval()
    torch.testing.assert_close(D(x), E(x), rtol=0, atol=0)
    assert D(x).shape == (3, 16)
    assert spectral_parametrization(D.linear) is not None and spectral_parametrization(D.linear).scale == 1.5


def test_resnet_discriminator_is_global_sum_pooled_linear():
    D = build_discriminator(
        discriminator_spec("resnet", width=4, resolution=32, out_dim=1, norm="none")
    ).eval()
    x = torch.randn(2, 3, 32, 32)
    feats = torch.relu(D.blocks(x)).sum(dim=(2, 3))
    torch.testing.assert_close(D(x), feats @ D.linear.weight.t())


def test_cell_discriminator_from_genotype():
    spec = discriminator_spec(
        "cell", width=8, resolution=32, out_dim=16, norm="sn", genotype=load_genotype("tiny")
    )
    D = build_discriminator(spec)
    assert D(torch.randn(2, 3, 32, 32)).shape == (2, 16)
    with pytest.raises(SpecError, match="no discriminator cells"):
        discriminator_spec("cell", width=8, genotype=load_genotype("mmd-adversarialnas-cifar10"))


@pytest.mark.parametrize(
    "kwargs,msg",
    [
        (dict(resolution=40), "resolution 40 is not supported"),
        (dict(resolution=8), "resolution 8 is not supported"),
        (dict(activation="gelu"), "unknown activation 'gelu'"),
        (dict(latent_chunks=5), "latent_chunks 5"),
        (dict(latent_dim=13), "divide latent_dim 13"),
    ],
)
def test_bad_generator_specs(kwargs, msg):
    with pytest.raises(SpecError) as exc:
        _tiny_spec(**kwargs)
    assert msg in str(exc.value) and "\n" not in str(exc.value)


def test_bad_discriminator_specs():
    with pytest.raises(SpecError, match="unknown discriminator norm"):
        discriminator_spec(norm="weird")
    with pytest.raises(SpecError, match="takes no scale"):
        discriminator_spec(norm="sn", scale=2.0)
    with pytest.raises(SpecError, match="unknown discriminator kind"):
        discriminator_spec(kind="stylegan")


def test_one_mmd_step_through_g_and_bssn_d():
    from ganctl.core.losses import mmd_d_loss, mmd_g_loss

    G = build_generator(_tiny_spec(width=4))
    D = build_discriminator(discriminator_spec(width=4, out_dim=16, norm="bssn", scale=1.2))
    real = torch.rand(4, 3, 32, 32) * 2 - 1
    fake = G(torch.randn(4, 12))
    d = mmd_d_loss(D(real), D(fake.detach()))
    d.backward()
    g = mmd_g_loss(D(real), D(fake))
    g.backward()
    assert torch.isfinite(d) and torch.isfinite(g)
    assert all(p.grad is not None for p in G.parameters() if p.requires_grad)
