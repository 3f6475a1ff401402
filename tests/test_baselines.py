"""The pipeline's reference points (`python -m ganctl.evaluate.baselines`) at the generator's resolution."""
from __future__ import annotations

import json

import torch

from ganctl.data import load_data
from ganctl.evaluate.baselines import main, matched_noise
from ganctl.evaluate.extractors import build_extractor, extract_features
from ganctl.evaluate.reference import reference_indices
from ganctl.evaluate.stats import feature_stats, frechet_distance


def test_reference_points_at_a_given_resolution_match_a_hand_computation(tmp_path, monkeypatch):
    monkeypatch.setenv("GANCTL_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "baselines.json"
    args = ["--data", "sprites", "--metrics", "fid", "--num-samples", "64", "--num-reference", "128",
            "--extractor", "randconv", "--seed", "3", "--out", str(out)]
    assert main([*args, "--resolution", "16"]) == 0
    result = json.loads(out.read_text())
    assert result["extractor"] == "randconv" and result["extractor_is_proxy"] is True
    # the ceiling by hand: matched noise of the 16 px reference subset, scored against that subset
    data = load_data("sprites", resolution=16, seed=0)
    ref = data.images[reference_indices(len(data), 128, 0)]
    assert ref.shape[-1] == 16
    ext = build_extractor("randconv", torch.device("cpu"))

    def stats(images):
        return feature_stats(extract_features(ext, [images], "cpu").features.double())

    expected = frechet_distance(stats(matched_noise(ref, 64, 3)), stats(ref))
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
