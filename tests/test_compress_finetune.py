"""Fine-tuning a decomposed generator: factors frozen or trainable, DGL teacher, checkpoint written."""
import torch

from ganctl.compress.finetune import FinetuneConfig, finetune
from ganctl.compress.plan import apply_plan, decomposable_layers, plan_entry
from ganctl.data import BatchStream, load_data
from ganctl.genotype import load_genotype
from ganctl.io.checkpoint import load_checkpoint
from ganctl.models import build_discriminator, build_generator, discriminator_spec, generator_spec
from ganctl.nn.factorised import Factorised


def _models():
    G = build_generator(generator_spec(load_genotype("tiny"), resolution=32, width=8, latent_dim=12,
                                       activation="pmish", init_seed=1))
    layers = decomposable_layers(G)
    names = [n for n in layers if n.startswith("cells.0")][:2]
    apply_plan(G, [plan_entry(n, layers[n], "cp", 2) for n in names])
    D = build_discriminator(discriminator_spec("resnet", width=8, resolution=32, out_dim=16, init_seed=2))
    return G, D


def _split(G):
    factor_ids = {id(p) for m in G.modules() if isinstance(m, Factorised) for p in m.parameters()}
    assert factor_ids, "the plan produced no factorised layers"
    factors = {n: p.detach().clone() for n, p in G.named_parameters() if id(p) in factor_ids}
    others = {n: p.detach().clone() for n, p in G.named_parameters() if id(p) not in factor_ids}
    return factors, others


def _run(tmp_path, freeze, teacher=None, steps=3, **recipe):
    torch.manual_seed(0)
    G, D = _models()
    before_f, before_o = _split(G)
    data = load_data("shapes", resolution=32, max_images=64)
    stream = BatchStream(data, 8, "cpu", seed=0)
    cfg = FinetuneConfig(steps=steps, batch_size=8, freeze_factors=freeze, checkpoint_every=2, lr_g=1e-3,
                         lr_d=1e-3, **recipe)
    out = finetune(G, D, teacher, stream, cfg, torch.device("cpu"), tmp_path / "ft.pt", {"plan": []})
    after_f, after_o = _split(G)
    return out, before_f, after_f, before_o, after_o


def _moved(a, b):
    return sum(not torch.equal(a[k], b[k]) for k in a)


def test_frozen_factors_stay_fixed_and_the_rest_trains(tmp_path):
    _, bf, af, bo, ao = _run(tmp_path, freeze=True)
    assert _moved(bf, af) == 0
    assert _moved(bo, ao) > 0
    state = load_checkpoint(tmp_path / "ft.pt", expect_kind="compress")
    assert state["format"] == "ganctl.checkpoint"


def test_trainable_factors_move(tmp_path):
    _, bf, af, _, _ = _run(tmp_path, freeze=False)
    assert _moved(bf, af) == len(bf)


def test_teacher_changes_the_result(tmp_path):
    teacher = build_discriminator(discriminator_spec("resnet", width=8, resolution=32, out_dim=16, init_seed=7))
    teacher.requires_grad_(False)
    *_, plain = _run(tmp_path / "a", freeze=False)
    *_, with_teacher = _run(tmp_path / "b", freeze=False, teacher=teacher)
    assert any(not torch.equal(plain[k], with_teacher[k]) for k in plain)


def test_the_fine_tuned_generator_is_the_ema_of_its_steps(tmp_path):
    """Decay 0 keeps the raw weights after one step; decay 0.5 without warm-up must land halfway between
    the starting weights and those (ema = d·start + (1-d)·raw, computed here by hand)."""
    torch.manual_seed(0)
    start = {n: p.detach().clone() for n, p in _models()[0].named_parameters()}
    _, bf, raw_f, bo, raw_o = _run(tmp_path / "raw", freeze=False, steps=1, ema_decay=0.0, ema_warmup=False)
    _, _, half_f, _, half_o = _run(tmp_path / "half", freeze=False, steps=1, ema_decay=0.5, ema_warmup=False)
    assert {**bf, **bo}.keys() == start.keys()
    raw, half = {**raw_f, **raw_o}, {**half_f, **half_o}
    assert sum(not torch.equal(start[k], raw[k]) for k in start) > 0  # the step moved the weights
    for k in start:
        expected = 0.5 * start[k].double() + 0.5 * raw[k].double()
        assert torch.allclose(half[k].double(), expected, atol=1e-6), k
