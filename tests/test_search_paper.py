"""`ganctl search --preset paper`: the seed paper's search settings, half batches, a frozen D in G steps."""

from __future__ import annotations

import math

import pytest
import torch

from ganctl.data import load_data
from ganctl.errors import UsageError
from ganctl.nn.activations import PMish
from ganctl.search.adversarialnas import AdversarialNAS
from ganctl.search.alphagan import AlphaGAN
from ganctl.search.config import make_config
from ganctl.search.fastpath import FastPath
from ganctl.search.loop import run_search
from ganctl.search.temperature import epoch_temperature


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_paper_preset_is_the_reference_search() -> None:
    cfg = make_config("adversarialnas", "paper")
    assert (cfg.batch_size, cfg.n_critic, cfg.width_g, cfg.width_d, cfg.latent_dim) == (128, 5, 160, 80, 120)
    assert cfg.steps == 124 * 391 and 48_000 < cfg.steps < 49_000  # max_epoch_D 125, the first only derives
    assert (cfg.loss, cfg.effective_arch_loss(), cfg.act_g) == ("mmd", "hinge", "pmish")
    assert cfg.up_ops == ["nearest", "bilinear", "bicubic"] and cfg.split_batch and cfg.d_topology == "paper"
    assert cfg.tau_epoch_steps == 391 and cfg.gumbel
    with pytest.raises(UsageError, match="for --method adversarialnas only"):
        make_config("alphagan", "paper")
    # ganctl's own preset keeps its choices
    own = make_config("adversarialnas", "cifar10")
    assert (own.act_g, own.up_ops, own.split_batch, own.d_topology) == ("relu", None, False, "stem")


def test_tau_is_constant_within_an_epoch_and_follows_the_reference_formula() -> None:
    total, per = 6, 2  # 3 training epochs + the derive-only epoch 0: E = 4
    taus = [epoch_temperature(t, per, total) for t in range(total)]
    assert taus[0] == taus[1] and taus[2] == taus[3] and taus[0] > taus[2] > taus[4]
    for t, tau in enumerate(taus):
        e = 1 + t // per
        assert tau == pytest.approx(max(0.1, 5.0 * math.exp(-math.log(5.0 / 0.1) / 4 * e)))


def _paper_tiny(**kw):
    base = dict(resolution=16, width_g=4, width_d=4, latent_dim=12, batch_size=8, steps=4, n_critic=1,
                tau_epoch_steps=2, data="shapes", max_images=32, device="cpu", derive_every=2,
                checkpoint_every=2, log_every=1)
    base.update(kw)
    return make_config("adversarialnas", "paper", **base)


def _search(cfg) -> AdversarialNAS:
    data = load_data(cfg.data, resolution=cfg.resolution, seed=0, max_images=cfg.max_images)
    return AdversarialNAS(cfg, data, torch.device("cpu"), FastPath(torch.device("cpu")))


def test_paper_supernets_have_the_reference_topology() -> None:
    s = _search(_paper_tiny())
    assert any(isinstance(m, PMish) for m in s.G.modules())
    assert s.G.op_names["cell0_up0"] == ("nearest", "bilinear", "bicubic")
    assert isinstance(s.D.stem, torch.nn.Identity) and s.D.downsample == (True,) * 4
    first = s.D.cells[0]
    for edge in ("c0", "c1", "c2"):  # read the image: 3 input channels, no pre-activation, no skip
        assert "skip" not in getattr(first, edge).names
        convs = [m for m in getattr(first, edge).modules() if isinstance(m, torch.nn.Conv2d)]
        assert convs and all(c.in_channels == 3 for c in convs)
    assert s.D(torch.randn(2, 3, 16, 16)).shape == (2, 16)


def test_half_batches_and_a_frozen_discriminator_in_g_steps() -> None:
    s = _search(_paper_tiny())
    sizes: list[int] = []
    s.D.register_forward_hook(lambda mod, inp, out: sizes.append(inp[0].shape[0]))
    d_grads: list[int] = []
    weight = s.D.linear.parametrizations.weight.original
    weight.register_hook(lambda g: d_grads.append(1))
    alpha = next(iter(s.D.alphas.values()))
    alpha_grads: list[int] = []
    alpha.register_hook(lambda g: alpha_grads.append(1))
    g_weight_grads: list[int] = []
    for p in s.G.weight_parameters():
        p.register_hook(lambda g: g_weight_grads.append(1))
    g_alpha_grads: list[int] = []
    for p in s.G.arch_parameters():
        p.register_hook(lambda g: g_alpha_grads.append(1))
    s.step(0)
    # D steps see cat(real half, fake half) = 8; each G step sees its half (4 fake, 4 real for MMD)
    assert sizes[:2] == [8, 8] and all(n == 4 for n in sizes[2:]) and len(sizes) > 2
    # each architecture step freezes the weights of the network it searches: D weight gradients only in the
    # D weight step, α's only in the architecture step; likewise for G
    assert len(d_grads) == 1 and len(alpha_grads) == 1
    assert len(g_weight_grads) == len(s.G.weight_parameters()) and len(g_alpha_grads) == len(s.G.arch_parameters())
    assert all(p.requires_grad for p in s.D.parameters()) and all(p.requires_grad for p in s.G.parameters())


def test_alphagan_d_is_called_once_per_d_step_and_frozen_for_g(tmp_path) -> None:
    cfg = make_config("alphagan", "tiny", width_g=4, width_d=4, batch_size=4, steps=2, max_images=32,
                      inner_steps=10, worst_steps=1, device="cpu", out=str(tmp_path / "a"))
    data = load_data(cfg.data, resolution=cfg.resolution, seed=0, max_images=cfg.max_images)
    s = AlphaGAN(cfg, data, torch.device("cpu"), FastPath(torch.device("cpu")))
    sizes: list[int] = []
    s.D.register_forward_hook(lambda mod, inp, out: sizes.append(inp[0].shape[0]))
    fired: list[int] = []
    next(s.D.parameters()).register_hook(lambda g: fired.append(1))
    s.step(0)
    assert sizes == [8, 4] and len(fired) == 1  # joint D step; G step through a frozen D


def test_paper_preset_runs_end_to_end_and_derives(tmp_path) -> None:
    from ganctl.genotype import load_genotype

    result = run_search(_paper_tiny(out=str(tmp_path / "p")))
    geno = load_genotype(result.genotype_path)
    assert geno.ops["up"] == ["nearest", "bilinear", "bicubic"]
    assert all(c["up0"] != "deconv" and c["up1"] != "deconv" for c in geno.generator_cells)
    assert [c["downsample"] for c in geno.discriminator_cells] == [True] * 4
