"""Reference points (floor: held-out real, ceiling: matched noise) at the generator's resolution: the standalone
`python -m ganctl.evaluate.baselines` and `ganctl evaluate --reference-points`, against a hand computation."""
from __future__ import annotations

import json

import torch
from tiny_artifact import tiny_generator_artifact
from typer.testing import CliRunner

from ganctl.cli.app import app
from ganctl.data import load_data
from ganctl.evaluate import api
from ganctl.evaluate.baselines import main, matched_noise
from ganctl.evaluate.extractors import build_extractor, extract_features
from ganctl.evaluate.reference import reference_indices
from ganctl.evaluate.stats import feature_stats, frechet_distance


def hand_ceiling(resolution: int, num_samples: int, num_reference: int, seed: int) -> float:
    """The ceiling by hand: matched noise of the reference subset at `resolution`, Fréchet distance of
    randconv features against that subset."""
    data = load_data("sprites", resolution=resolution, seed=0)
    ref = data.images[reference_indices(len(data), num_reference, 0)]
    assert ref.shape[-1] == resolution
    ext = build_extractor("randconv", torch.device("cpu"))

    def stats(images):
        return feature_stats(extract_features(ext, [images], "cpu").features.double())

    return frechet_distance(stats(matched_noise(ref, num_samples, seed)), stats(ref))


def test_reference_points_at_a_given_resolution_match_a_hand_computation(tmp_path, monkeypatch):
    monkeypatch.setenv("GANCTL_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "baselines.json"
    args = ["--data", "sprites", "--metrics", "fid", "--num-samples", "64", "--num-reference", "128",
            "--extractor", "randconv", "--seed", "3", "--out", str(out)]
    assert main([*args, "--resolution", "16"]) == 0
    result = json.loads(out.read_text())
    assert result["extractor"] == "randconv" and result["extractor_is_proxy"] is True
    expected = hand_ceiling(resolution=16, num_samples=64, num_reference=128, seed=3)
    name = next(iter(result["ceiling"]))
    assert abs(result["ceiling"][name] - expected) <= 1e-6 * expected
    assert 0 <= result["floor"][name] < 0.5 * result["ceiling"][name]
    # the data's own resolution (32 px) is another protocol with other numbers
    assert main([*args, "--out", str(tmp_path / "b32.json")]) == 0
    assert json.loads((tmp_path / "b32.json").read_text())["ceiling"][name] != result["ceiling"][name]


def test_bad_resolution_is_one_line_and_no_file(tmp_path, capsys):
    out = tmp_path / "baselines.json"
    code = main(["--data", "sprites", "--num-samples", "8", "--extractor", "randconv", "--resolution", "0",
                 "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "resolution" in err[0] and not out.exists()


def test_evaluate_reference_points_use_the_evaluation_protocol(tmp_path, monkeypatch):
    """`ganctl evaluate --reference-points` on a 16 px generator: the artifact's resolution, the same numbers as
    the standalone script given that protocol, the ceiling equal to the hand computation, two table rows, and
    one extractor built for the generators and the reference points together."""
    monkeypatch.setenv("GANCTL_CACHE", str(tmp_path / "cache"))
    built = []
    monkeypatch.setattr(api, "build_extractor", lambda *a, **k: built.append(a[0]) or build_extractor(*a, **k))
    artifact, _ = tiny_generator_artifact(tmp_path, resolution=16)
    protocol = ["--metrics", "fid,kid", "--num-samples", "64", "--num-reference", "128", "--extractor", "randconv",
                "--seed", "3"]
    res = CliRunner().invoke(app, ["evaluate", str(artifact), "--data", "sprites", *protocol, "--reference-points",
                                   "--no-cost", "--device", "cpu", "--out", str(tmp_path / "ev")])
    assert res.exit_code == 0, res.output
    assert built == ["randconv"]
    assert "held-out real (floor)" in res.output and "matched noise (ceiling)" in res.output
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    points = metrics["reference_points"]
    assert main(["--data", "sprites", *protocol, "--resolution", "16", "--out", str(tmp_path / "b.json")]) == 0
    standalone = json.loads((tmp_path / "b.json").read_text())
    assert points["floor"] == standalone["floor"] and points["ceiling"] == standalone["ceiling"]
    assert set(points["ceiling"]) == set(metrics["artifacts"][0]["metrics"])  # the report joins on these names
    fid = "fid64_train_randconv_proxy"
    expected = hand_ceiling(resolution=16, num_samples=64, num_reference=128, seed=3)
    assert abs(points["ceiling"][fid] - expected) <= 1e-6 * expected


def test_reference_points_refuse_real_only(tmp_path):
    res = CliRunner().invoke(app, ["evaluate", "--data", "sprites", "--real-only", "--reference-points",
                                   "--extractor", "randconv", "--device", "cpu"])
    lines = res.output.strip().splitlines()
    assert res.exit_code == 2 and len(lines) == 1 and "--reference-points" in lines[0], res.output
