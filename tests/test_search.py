"""ganctl search: τ schedule, derivation rules, tiny searches end to end, exact resume, bad input."""
from __future__ import annotations

import json
import math

import pytest
import torch
from typer.testing import CliRunner

from ganctl.cli.app import app
from ganctl.errors import DataError, UsageError
from ganctl.genotype import load_genotype
from ganctl.io.checkpoint import load_checkpoint
from ganctl.recipe import RECIPE_FIELDS, Recipe
from ganctl.search import make_config, parse_budget, run_search, temperature
from ganctl.search.config import load_saved
from ganctl.search.derive import derive_discriminator_cells, derive_generator_cells

NORMAL = ("none", "skip", "conv_1x1", "conv_3x3", "conv_5x5", "dil_conv_3x3", "dil_conv_5x5")
UP = ("nearest", "bilinear", "bicubic", "deconv")


@pytest.fixture(autouse=True)
def _one_thread():
    # a loaded 2-core box makes multi-threaded tiny convs ~100x slower
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny(method: str, out, **kw):
    base = dict(out=str(out), device="cpu", width_g=4, width_d=4, batch_size=4, steps=2, max_images=32,
                derive_every=1, checkpoint_every=1)
    base.update(kw)
    return make_config(method, "tiny", **base)


# -- temperature ---------------------------------------------------------------------------------------
def test_temperature_closed_form():
    total = 11
    assert temperature(0, total) == pytest.approx(5.0, rel=1e-12)
    assert temperature(total - 1, total) == pytest.approx(0.1, rel=1e-12)
    for t in range(total):
        expected = 5.0 * math.exp(math.log(0.1 / 5.0) * t / (total - 1))
        assert temperature(t, total) == pytest.approx(expected, rel=1e-12)
    # exponential: constant ratio between consecutive steps
    ratios = [temperature(t + 1, total) / temperature(t, total) for t in range(total - 1)]
    assert max(ratios) == pytest.approx(min(ratios), rel=1e-12)
    assert ratios[0] == pytest.approx((0.1 / 5.0) ** (1 / (total - 1)), rel=1e-12)


def test_budget_parsing():
    assert parse_budget("30m") == 1800 and parse_budget("90s") == 90 and parse_budget("1.5h") == 5400
    with pytest.raises(UsageError):
        parse_budget("soon")


# -- derivation ----------------------------------------------------------------------------------------
def _probs(winner: str, names, second: str | None = None, none_p: float | None = None) -> torch.Tensor:
    p = torch.full((len(names),), 0.01)
    p[names.index(winner)] = 0.5
    if second:
        p[names.index(second)] = 0.2
    if none_p is not None:
        p[names.index("none")] = none_p
    return p / p.sum()


def test_derive_generator_connectivity_fallback():
    names = {e: (UP if e.startswith("up") else NORMAL) for e in ("up0", "up1", "c0", "c1", "c2", "c3", "c4")}
    probs = {"up0": _probs("bilinear", UP), "up1": _probs("deconv", UP),
             # node2: both none; c1's none is weaker (0.4 < 0.6) → c1 takes its best non-none op (conv_5x5)
             "c0": _probs("none", NORMAL, second="conv_3x3", none_p=0.6),
             "c1": _probs("none", NORMAL, second="conv_5x5", none_p=0.4),
             # node3: all none; c4's none weakest → dil_conv_3x3
             "c2": _probs("none", NORMAL, second="skip", none_p=0.7),
             "c3": _probs("none", NORMAL, second="conv_1x1", none_p=0.8),
             "c4": _probs("none", NORMAL, second="dil_conv_3x3", none_p=0.3)}
    [cell] = derive_generator_cells([probs], [names])
    assert cell == {"up0": "bilinear", "up1": "deconv", "c0": "none", "c1": "conv_5x5",
                    "c2": "none", "c3": "none", "c4": "dil_conv_3x3"}
    # plain argmax when nothing is dead
    probs2 = {**probs, "c0": _probs("skip", NORMAL), "c2": _probs("conv_1x1", NORMAL)}
    [cell2] = derive_generator_cells([probs2], [names])
    assert (cell2["c0"], cell2["c1"], cell2["c2"], cell2["c4"]) == ("skip", "none", "conv_1x1", "none")


def test_derive_discriminator_connectivity():
    names = {e: NORMAL for e in ("c0", "c1", "c2", "c3", "c4", "d0", "d1")}
    probs = {e: _probs("none", NORMAL, second="conv_3x3", none_p=0.5) for e in names}
    probs["d1"] = _probs("none", NORMAL, second="conv_1x1", none_p=0.45)
    probs["c2"] = _probs("none", NORMAL, second="skip", none_p=0.35)
    [cell] = derive_discriminator_cells([probs], [names], (False,))
    # node0 dead → node1 only from c1, node2 only from c2; output from the weakest none (d1)
    assert cell["c0"] == "none" and cell["c1"] == "conv_3x3" and cell["c2"] == "skip"
    assert cell["d1"] == "conv_1x1" and cell["d0"] == "none" and cell["downsample"] is False


# -- end to end ----------------------------------------------------------------------------------------
def _trains(genotype_path, with_d: bool) -> None:
    from ganctl.core.losses import d_loss, g_loss
    from ganctl.models import build_discriminator, build_generator, discriminator_spec, generator_spec
    geno = load_genotype(genotype_path)
    G = build_generator(generator_spec(geno, resolution=32, width=8, latent_dim=12, activation="relu"))
    kind = "cell" if with_d else "resnet"
    D = build_discriminator(discriminator_spec(kind, width=8, resolution=32, out_dim=16,
                                               genotype=geno if with_d else None))
    opt_g = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.0, 0.9))
    opt_d = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.0, 0.9))
    before = [p.detach().clone() for p in G.parameters()]
    for _ in range(2):
        real = torch.rand(4, 3, 32, 32) * 2 - 1
        opt_d.zero_grad()
        d_loss("mmd", D(real), D(G(torch.randn(4, 12)).detach())).backward()
        opt_d.step()
        opt_g.zero_grad()
        g_loss("mmd", D(real).detach(), D(G(torch.randn(4, 12)))).backward()
        opt_g.step()
    assert any(not torch.equal(a, b) for a, b in zip(before, G.parameters(), strict=True))


@pytest.mark.parametrize("method", ["adversarialnas", "alphagan"])
def test_tiny_search_produces_trainable_genotype(tmp_path, method):
    kw = dict(inner_steps=1, worst_steps=1) if method == "alphagan" else {}
    result = run_search(tiny(method, tmp_path / "run", **kw))
    out = tmp_path / "run"
    assert result.genotype_path == out / "genotype.json" and result.steps_done == 2
    for name in ("genotype.json", "alphas.json", "alphas.png", "stats.jsonl", "config.json",
                 "genotypes/step-000001.json", "genotypes/step-000002.json"):
        assert (out / name).is_file(), name
    geno = load_genotype(out / "genotype.json")
    assert geno.search_space == method and geno.provenance["step"] == 2
    assert (geno.discriminator_cells is not None) == (method == "adversarialnas")
    # the final genotype is the argmax (+rules) of the saved α: recheck one edge independently
    alphas = json.loads((out / "alphas.json").read_text())
    up0 = alphas["generator"]["cell0_up0"]
    best = max(range(len(up0["ops"])), key=up0["logits"].__getitem__)
    assert geno.generator_cells[0]["up0"] == up0["ops"][best]
    soft = torch.softmax(torch.tensor(up0["logits"]), -1)
    assert torch.allclose(soft, torch.tensor(up0["softmax"]), atol=1e-6)
    rows = [json.loads(line) for line in (out / "stats.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2] and rows[0]["tau"] == pytest.approx(5.0)
    _trains(out / "genotype.json", with_d=method == "adversarialnas")


@pytest.mark.parametrize("method", ["adversarialnas", "alphagan"])
def test_resume_equals_uninterrupted(tmp_path, method):
    kw = dict(steps=4, inner_steps=2, worst_steps=1) if method == "alphagan" else dict(steps=3, n_critic=1)
    run_search(tiny(method, tmp_path / "full", **kw))
    partial = run_search(tiny(method, tmp_path / "cut", **kw), stop_after=kw["steps"] // 2 + 1)
    assert partial.stopped_by == "interrupted"
    run_search(tiny(method, tmp_path / "cut", **kw), resume=True)
    a = load_checkpoint(tmp_path / "full" / "checkpoint.pt", "search")
    b = load_checkpoint(tmp_path / "cut" / "checkpoint.pt", "search")
    assert a["step"] == b["step"] == kw["steps"]
    for net in ("G", "D"):
        sa, sb = a["strategy"][net], b["strategy"][net]
        assert sa.keys() == sb.keys()
        for k in sa:
            assert torch.equal(sa[k], sb[k]), f"{net}.{k}"
    assert (tmp_path / "full" / "genotype.json").read_text().replace("full", "cut") == \
        (tmp_path / "cut" / "genotype.json").read_text().replace("full", "cut")
    stats_full = [json.loads(x) for x in (tmp_path / "full" / "stats.jsonl").read_text().splitlines()]
    stats_cut = [json.loads(x) for x in (tmp_path / "cut" / "stats.jsonl").read_text().splitlines()]
    strip = [{k: v for k, v in r.items() if k != "time"} for r in stats_full]
    assert strip == [{k: v for k, v in r.items() if k != "time"} for r in stats_cut]


def test_budget_stops_cleanly(tmp_path):
    result = run_search(tiny("adversarialnas", tmp_path / "b", steps=1000, budget_s=1e-9))
    assert result.stopped_by == "budget" and result.steps_done == 0
    load_genotype(tmp_path / "b" / "genotype.json")


# -- bad input -----------------------------------------------------------------------------------------
def test_split_too_small_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="too small for alphagan's train/validation split"):
        run_search(tiny("alphagan", tmp_path / "s", max_images=6))


@pytest.mark.parametrize("args, code, text", [
    (["--method", "darts"], 2, "unknown search method"),
    (["--preset", "huge"], 2, "unknown preset"),
    (["--method", "alphagan", "--preset", "tiny", "--max-images", "6"], 4, "too small"),
    (["--preset", "tiny", "--budget", "later"], 2, "--budget"),
])
def test_cli_bad_input(tmp_path, args, code, text):
    result = CliRunner().invoke(app, ["search", "--data", "shapes", "--out", str(tmp_path / "o"),
                                      "--device", "cpu", *args])
    assert result.exit_code == code, result.output
    assert text in result.output


def test_cli_resume_refuses_changed_flags(tmp_path, monkeypatch):
    """A typed flag that differs from the saved search would be ignored on --resume: it is refused (exit 2,
    naming the key) and nothing in the run changes; runtime keys (--device, --budget) may change."""
    monkeypatch.setenv("GANCTL_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "s"
    base = ["search", "--data", "shapes", "--preset", "tiny", "--device", "cpu", "--quiet", "--steps", "2",
            "--batch-size", "4", "--out", str(out)]
    assert CliRunner().invoke(app, base).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    changed = CliRunner().invoke(app, [*base, "--resume", "--batch-size", "8"])
    assert changed.exit_code == 2, changed.output
    assert "batch_size (4 -> 8)" in changed.output
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    same = CliRunner().invoke(app, [*base[:-4], "--out", str(out), "--resume", "--budget", "1h"])
    assert "differ" not in same.output


# -- one recipe: search's config embeds it (issue 12) ----------------------------------------------------
def test_recipe_names_and_the_old_ones_give_the_same_config(tmp_path):
    new = make_config("adversarialnas", "tiny", out="o", width=6, d_width=10, lr_g=3e-4, lr_d=3e-4, beta1=0.5,
                      beta2=0.99, bound_lower=0.5, bound_upper=8.0)
    old = make_config("adversarialnas", "tiny", out="o", width_g=6, width_d=10, lr=3e-4, betas=(0.5, 0.99),
                      mmd_bound_lower=0.5, mmd_bound_upper=8.0)
    assert new == old and isinstance(new, Recipe)
    assert (new.width, new.d_width, new.lr_g, new.beta2, new.bound_upper) == (6, 10, 3e-4, 0.99, 8.0)
    assert "width_g" not in new.to_dict() and new.to_dict()["width"] == 6
    with pytest.raises(UsageError, match="--bound-lower"):  # checked once, by the recipe
        make_config("adversarialnas", "tiny", out="o", bound_lower=8.0, bound_upper=4.0)


def test_a_config_json_from_before_the_recipe_still_resumes(tmp_path, monkeypatch):
    """A search run whose config.json spells width_g/width_d/mmd_bound_*/lr/betas resumes with those values."""
    monkeypatch.setenv("GANCTL_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "s"
    cfg = tiny("adversarialnas", out, steps=3, width_g=6)
    run_search(cfg, stop_after=1)
    saved = json.loads((out / "config.json").read_text())
    old = {k: v for k, v in saved.items() if k not in RECIPE_FIELDS and k not in ("width", "d_width")}
    old.update(width_g=saved["width"], width_d=saved["d_width"], mmd_bound_lower=saved["bound_lower"],
               mmd_bound_upper=saved["bound_upper"], mmd_modified_weight=saved["mmd_modified_weight"],
               lr=saved["lr_g"], betas=[saved["beta1"], saved["beta2"]], loss=saved["loss"],
               n_critic=saved["n_critic"], precision=saved["precision"])
    (out / "config.json").write_text(json.dumps(old))
    assert load_saved(str(out)) == saved  # the recipe fields the old file lacks take their defaults
    result = run_search(tiny("adversarialnas", out, steps=3, width_g=6), resume=True)
    assert result.steps_done == 3
    assert load_checkpoint(out / "checkpoint.pt", "search")["config"]["width"] == 6
