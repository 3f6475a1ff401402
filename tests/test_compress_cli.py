"""Plan replay through the artifact, ARD choices and budgets, and the CLI's bad-input errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from ganctl.cli.app import app
from ganctl.compress import ranks as rk
from ganctl.compress.plan import apply_plan, decompose_model, select_layers
from ganctl.compress.stage import CompressConfig, Hooks, compress
from ganctl.errors import SpecError, UsageError
from ganctl.io.artifact import read_artifact, save_generator
from ganctl.models.artifact import load_generator
from ganctl.nn.factorised import num_params

runner = CliRunner()


@pytest.fixture(autouse=True)
def _one_thread() -> object:
    """Tiny models: OpenMP hand-offs dominate on a shared 2-core box."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _tiny_generator() -> nn.Module:
    from ganctl.genotype import load_genotype
    from ganctl.models import build_generator, generator_spec

    return build_generator(generator_spec(load_genotype("tiny"), resolution=32, width=8, latent_dim=12))


@pytest.fixture()
def artifact(tmp_path: Path) -> Path:
    path = tmp_path / "g.safetensors"
    save_generator(path, _tiny_generator(), {"loss": "mmd", "data_fingerprint": "abc"})
    return path


def test_plan_replay_after_save_and_load_gives_identical_outputs(tmp_path: Path) -> None:
    G = _tiny_generator().eval()
    plan = [
        {"layer": "cells.1.c4.conv", "type": "conv2d", "method": "cp", "rank": 5},
        {"layer": "cells.2.c2.conv", "type": "conv2d", "method": "tucker", "rank": [3, 4]},
        {"layer": "latent_proj.2", "type": "linear", "method": "svd", "rank": 2},
        {"layer": "cells.1.skip_in.0", "type": "conv2d", "method": "svd", "rank": 3},
    ]
    used, _ = decompose_model(G, plan, n_iter=10)
    G.spec = {**G.spec, "decomposition": used}
    save_generator(tmp_path / "c.safetensors", G)
    loaded, info = load_generator(tmp_path / "c.safetensors")
    assert info.spec["decomposition"] == used
    z = torch.randn(4, 12)
    with torch.no_grad():
        np.testing.assert_array_equal(loaded(z).numpy(), G(z).numpy())
    assert num_params(loaded) == num_params(G) == info.num_params


def test_apply_plan_rejects_bad_plans() -> None:
    G = _tiny_generator()
    with pytest.raises(SpecError, match="does not have"):
        apply_plan(G, [{"layer": "nope", "type": "conv2d", "method": "cp", "rank": 2}])
    with pytest.raises(SpecError, match="the model has linear"):
        apply_plan(G, [{"layer": "latent_proj.0", "type": "conv2d", "method": "cp", "rank": 2}])
    with pytest.raises(SpecError, match="keys"):
        apply_plan(G, [{"layer": "latent_proj.0"}])


def _quality(G: nn.Module) -> float:
    """Stand-in proxy: distance of G's output on fixed noise from the uncompressed G's (lower is better)."""
    with torch.no_grad():
        return float((G(_Z) - _REF).pow(2).mean()) * 1e3 + 1.0


_Z = torch.randn(16, 12, generator=torch.Generator().manual_seed(0))
_REF = torch.empty(0)


def _fresh_reference(artifact: Path) -> None:
    global _REF
    G, _ = load_generator(artifact)
    with torch.no_grad():
        _REF = G(_Z)


def test_ard_picks_per_layer_ranks_by_score(artifact: Path) -> None:
    _fresh_reference(artifact)
    G, _ = load_generator(artifact)
    layers = select_layers(G, ["cells.1.c*.conv", "latent_proj.2"])
    results, baseline, _ = rk.ard_search(G, layers, "cp", _quality, penalty=0.5, n_iter=10)
    assert baseline == pytest.approx(1.0)
    for r in results:  # the choice is the minimum of (1 + PF·(1−CR))·quality, recomputed here
        scores = {json.dumps(c.rank): (1 + 0.5 * c.params / r.dense_params) * c.quality for c in r.candidates}
        assert json.dumps(r.chosen.rank) == min(scores, key=scores.get)
        assert any(c.rank == "nc" for c in r.candidates)
    with torch.no_grad():  # probes restore every layer
        np.testing.assert_array_equal(G(_Z).numpy(), _REF.numpy())


def test_rank_auto_honours_target_params_end_to_end(artifact: Path, tmp_path: Path) -> None:
    _fresh_reference(artifact)
    cfg = CompressConfig(
        artifact=str(artifact),
        out=str(tmp_path / "out"),
        rank="auto",
        target_params=0.7,
        layers=["cells.*", "latent_proj.2"],
        fit_iters=10,
        device="cpu",
    )
    result = compress(cfg, Hooks(quality=_quality, quality_name="stand_in"))
    before = num_params(_tiny_generator())
    assert result["params_after"] <= 0.7 * before
    loaded, info = load_generator(tmp_path / "out" / "generator.safetensors")
    assert num_params(loaded) == result["params_after"]
    assert info.provenance["parent_sha256"] == read_artifact(artifact).sha256
    ranks = json.loads((tmp_path / "out" / "ranks.json").read_text())
    ranks_by_layer = {r["layer"]: r["rank"] for r in ranks["layers"]}
    assert {e["layer"]: e["rank"] for e in info.spec["decomposition"]}.items() <= ranks_by_layer.items()
    assert len({json.dumps(v) for v in ranks_by_layer.values()}) > 1  # ranks differ per layer
    assert (tmp_path / "out" / "size_vs_quality.png").stat().st_size > 1000


def test_budget_choice_greedy_and_unreachable() -> None:
    a = rk.LayerSearch(
        "a", 100, [rk.Candidate("nc", 100, 1.0), rk.Candidate(2, 40, 1.5), rk.Candidate(1, 20, 3.0)]
    )
    b = rk.LayerSearch("b", 100, [rk.Candidate("nc", 100, 1.0), rk.Candidate(2, 40, 1.1)])
    rk.budget_choice([a, b], 200, 0.7)  # needs ≥ 60 saved: b's move costs 0.1/60, a's 0.5/60 → b
    assert (a.chosen.rank, b.chosen.rank) == ("nc", 2)
    rk.budget_choice([a, b], 200, 0.4)  # then a: 40 → 80 params total
    assert (a.chosen.rank, b.chosen.rank) == (2, 2)
    with pytest.raises(UsageError, match="at most"):
        rk.budget_choice([a, b], 200, 0.2)


def _cli(*args: str) -> object:
    return runner.invoke(app, ["compress", *args, "--device", "cpu"])


def test_cli_fixed_rank_writes_artifact_that_loads(artifact: Path, tmp_path: Path) -> None:
    res = _cli(
        str(artifact),
        "--out",
        str(tmp_path / "o"),
        "--rank",
        "2",
        "--layers",
        "cells.1.c*.conv",
        "--fit-iters",
        "5",
        "--json",
    )
    assert res.exit_code == 0, res.output
    line = json.loads(res.stdout.strip().splitlines()[-1])
    G, info = load_generator(line["output"])
    assert [e["rank"] for e in info.spec["decomposition"]] == [2, 2, 2]
    # an artifact that is already decomposed is refused
    res = _cli(line["output"], "--out", str(tmp_path / "o2"), "--rank", "2")
    assert res.exit_code == 3 and "already decomposed" in res.output


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["--rank", "400", "--layers", "cells.1.c0.conv"], 2, "larger than cells.1.c0.conv allows"),
        (["--rank", "2", "--layers", "cells.9.*"], 2, "matches no decomposable layer"),
        (["--rank", "zero"], 2, "expected auto"),
        (["--rank", "2", "--target-params", "0.5"], 2, "--rank auto"),
        (["--rank", "auto"], 2, "--data is needed"),
    ],
)
def test_cli_bad_input(artifact: Path, tmp_path: Path, args: list[str], code: int, message: str) -> None:
    res = _cli(str(artifact), "--out", str(tmp_path / "o"), *args)
    assert res.exit_code == code, res.output
    assert message in res.output


def test_cli_malformed_plan_file(artifact: Path, tmp_path: Path) -> None:
    plan = tmp_path / "PLAN.json"
    for text, message in [
        ("{not json", "not valid JSON"),
        ('[{"layer": "nope", "rank": 2}]', "'nope' is not"),
        ('{"cells.1.c0.conv": "two"}', "rank must be an integer"),
    ]:
        plan.write_text(text)
        res = _cli(str(artifact), "--out", str(tmp_path / "o"), "--rank", str(plan))
        assert res.exit_code == 3 and str(plan) in res.output and message in res.output, res.output


def test_cli_teacher_of_another_model_is_refused(artifact: Path, tmp_path: Path) -> None:
    from ganctl.io.artifact import save_discriminator
    from ganctl.models import build_discriminator, discriminator_spec

    other = tmp_path / "d48.safetensors"
    save_discriminator(other, build_discriminator(discriminator_spec("resnet", width=8, resolution=48)))
    res = _cli(
        str(artifact),
        "--out",
        str(tmp_path / "o"),
        "--rank",
        "2",
        "--layers",
        "cells.1.c0.conv",
        "--finetune-steps",
        "1",
        "--data",
        "shapes",
        "--teacher-d",
        str(other),
    )
    assert res.exit_code == 2 and "48 px" in res.output, res.output
    same = tmp_path / "d_other_data.safetensors"
    save_discriminator(
        same,
        build_discriminator(discriminator_spec("resnet", width=8, resolution=32)),
        {"data_fingerprint": "zzz"},
    )
    res = _cli(
        str(artifact),
        "--out",
        str(tmp_path / "o"),
        "--rank",
        "2",
        "--layers",
        "cells.1.c0.conv",
        "--finetune-steps",
        "1",
        "--data",
        "shapes",
        "--teacher-d",
        str(same),
    )
    assert res.exit_code == 2 and "other data" in res.output, res.output
