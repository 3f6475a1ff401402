"""evaluate people can read: data default from the artifact, PR in --json, an 80-column table, quick cost;
sample --npz/--out-dir honour the fast-path flags."""
import json
from pathlib import Path

import pytest
import torch
from rich.console import Console
from typer.testing import CliRunner

from ganctl.cli.app import app
from ganctl.cli.evaluate import table
from ganctl.evaluate.stage import short_names
from ganctl.genotype import load_genotype
from ganctl.io.artifact import save_generator
from ganctl.models import build_generator, generator_spec

runner = CliRunner()


def _save(path: Path, provenance: dict) -> Path:
    torch.manual_seed(0)
    G = build_generator(generator_spec(load_genotype("mmd-adversarialnas-cifar10"), resolution=32, width=8,
                                       latent_dim=12))
    path.parent.mkdir(parents=True, exist_ok=True)
    save_generator(path, G.eval(), provenance)
    return path


@pytest.fixture(scope="module")
def shapes_artifact(tmp_path_factory):
    return _save(tmp_path_factory.mktemp("ev") / "generator.safetensors", {"data": "shapes"})


BASE = ["--num-samples", "48", "--num-reference", "96", "--extractor", "randconv", "--batch-size", "16",
        "--device", "cpu"]


def test_data_defaults_to_the_recorded_data_and_pr_is_in_json(shapes_artifact, tmp_path):
    res = runner.invoke(app, ["evaluate", str(shapes_artifact), "--metrics", "fid,pr", *BASE,
                              "--out", str(tmp_path / "ev"), "--json"])
    assert res.exit_code == 0, res.output
    line = json.loads(res.output.strip().splitlines()[-1])
    saved = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert saved["data"]["name"] == "shapes" and "trained on" not in res.output  # no data-mismatch warning
    # 48 samples, 96 references, 256 randconv dimensions: the small-sample warning, printed and in both JSONs
    assert saved["warnings"] == line["warnings"] and len(saved["warnings"]) == 1
    assert saved["warnings"][0].startswith("fid48_train_randconv_proxy: 48 generated samples and 96 reference")
    assert "warning: fid48_train_randconv_proxy" in res.output
    row = saved["artifacts"][0]
    pr_name = next(n for n in row["metrics"] if n.startswith("pr"))
    got = line["metrics"][row["name"]][pr_name]
    want = row["metrics"][pr_name]
    assert got == {k: want[k]["mean"] for k in ("precision", "recall", "f_score")}
    assert all(isinstance(v, float) and 0 <= v <= 1 for v in got.values())
    assert row["cost"]["mode"] == "quick" and row["cost"]["throughput_batch_size"] == 16


@pytest.mark.parametrize("quiet", [[], ["--quiet"]])
def test_mismatched_data_is_warned_about(tmp_path, quiet):
    """Warnings change what a number means: --quiet hides the tables and notes, never them."""
    art = _save(tmp_path / "g.safetensors", {"data": "npz:/elsewhere/train.npz"})
    res = runner.invoke(app, ["evaluate", str(art), "--data", "shapes", *BASE, "--no-cost",
                              "--out", str(tmp_path / "ev"), *quiet])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())  # Rich wraps at the terminal width
    assert f"warning: {art} was trained on npz:/elsewhere/train.npz, evaluating against shapes" in text
    assert "warning: fid48_train_randconv_proxy: 48 generated samples" in text
    assert ("done in" in text) is not bool(quiet)  # the rest does follow --quiet


def test_artifacts_on_different_data_need_an_explicit_reference(tmp_path):
    a = _save(tmp_path / "a" / "generator.safetensors", {"data": "shapes"})
    b = _save(tmp_path / "b" / "generator.safetensors", {"data": "cifar10"})
    res = runner.invoke(app, ["evaluate", str(a), str(b), *BASE, "--out", str(tmp_path / "ev")])
    assert res.exit_code == 2 and "pass --data" in res.output and "Traceback" not in res.output


def _result(names: list[str], sparse: bool) -> dict:
    metric = {"mean": 123.456789, "std": 1.2345, "per_seed": [122.2, 124.7]}
    pr = {k: {"mean": 0.61234, "std": 0.0, "per_seed": [0.61234]} for k in ("precision", "recall", "f_score")}
    cost = {"flops_per_image": 8.88e9, "latency_ms_batch1": 126.4, "throughput_img_per_s": 5.5,
            "throughput_batch_size": 256, "mode": "full"}
    return {
        "protocol": {"extractor": "inception-v3-compat", "extractor_is_proxy": False, "device": "cuda:0",
                     "precision": "bf16", "seeds": [0, 1], "reference": {"dataset": "cifar10", "count": 50000}},
        "artifacts": [{"name": n, "params": 20_190_000, "nonzero_params": 4_000_000 if sparse else 20_190_000,
                       "metrics": {"fid50k_train": metric, "kid50k_train": metric, "pr50k_train": pr},
                       "cost": cost} for n in names],
    }


@pytest.mark.parametrize("sparse", [False, True])
def test_table_fits_80_columns_without_cutting_values(sparse):
    paths = [Path("runs/2026-11-30-cifar10-large-baseline/generator.safetensors"),
             Path("runs/2026-11-30-cifar10-large-compressed-tucker/generator.safetensors")]
    names = short_names(paths)
    assert names == ["…" + p.parent.name[-15:] for p in paths]  # the distinguishing tail, 16 characters
    assert all(len(n) == 16 and n.startswith("…") for n in names)
    console = Console(width=80, record=True, color_system=None)
    console.print(table(_result(names, sparse)))
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    for cell in ("123.5", "±1.2", "P 0.61", "R 0.61", "20.19M", "8.88", "126.4", "inception-v3-compat",
                 "cifar10 (50000", "fid50k", "kid50k"):
        assert cell in text, (cell, text)
    assert ("4.00M" in text) == sparse


def test_short_names_drop_shared_suffixes():
    assert short_names([Path("runs/a/generator.safetensors"), Path("runs/b/generator.safetensors")]) == ["a", "b"]
    assert short_names([Path("x/g.safetensors")]) == ["g"]


@pytest.mark.parametrize("target", ["--npz", "--out-dir"])
def test_sample_files_honour_fast_path_flags(shapes_artifact, tmp_path, monkeypatch, target):
    import ganctl.evaluate.generate as gen

    seen = []
    real = gen.fast_path

    def spy(G, device, channels_last, compile):
        seen.append((channels_last, compile))
        return real(G, device, channels_last, False)  # compile recorded, not run: no compiler in a unit test

    monkeypatch.setattr(gen, "fast_path", spy)
    dest = tmp_path / ("s.npz" if target == "--npz" else "d")
    res = runner.invoke(app, ["sample", str(shapes_artifact), "--num", "3", target, str(dest), "--channels-last",
                              "--compile", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert seen == [(True, True)]
