"""report.md and the pipeline summary state what the run folders hold."""
import json

import pytest
import torch
from PIL import Image

from ganctl.genotype import load_genotype, save_genotype
from ganctl.io.artifact import save_generator
from ganctl.models import build_generator, generator_spec
from ganctl.nn.activations import PMish
from ganctl.report import _arc_midpoint, reference_rows, summary, write_report


def test_report_and_summary(tmp_path):
    geno = load_genotype("tiny")
    save_genotype(tmp_path / "search" / "genotype.json", geno)
    G = build_generator(generator_spec(geno, resolution=32, width=8, latent_dim=12, activation="pmish"))
    acts = [m for m in G.modules() if isinstance(m, PMish)]
    with torch.no_grad():
        for i, m in enumerate(acts):
            m.beta.fill_(0.5 + 1.5 * i / (len(acts) - 1))
    save_generator(tmp_path / "train" / "generator.safetensors", G)
    small = build_generator(generator_spec(geno, resolution=32, width=4, latent_dim=12, activation="pmish"))
    save_generator(tmp_path / "compress" / "generator.safetensors", small)
    (tmp_path / "compress" / "ranks.json").write_text(json.dumps({"params_before": 10, "quality_before": 1.23456}))
    metrics = {"artifacts": [{"name": "train/generator.safetensors", "cost": {"params": 10},
                              "metrics": {"fid1k_train": {"mean": 3.5, "std": 0.25},
                                          "kid1k_train": {"mean": 0.0001736, "std": 0.0}}}]}
    (tmp_path / "evaluate").mkdir()
    (tmp_path / "evaluate" / "metrics.json").write_text(json.dumps(metrics))

    text = write_report(tmp_path).read_text()
    assert f"Learned PMish β ({len(acts)} activations, range 0.500 – 2.000)" in text
    # 4 significant digits: a KID of ~1e-4 must not print as 0.000
    assert "| train/generator.safetensors | 10 | 3.5 ± 0.25 | 0.0001736 ± 0 |" in text
    assert "| quality_before | 1.235 |" in text
    assert Image.open(tmp_path / "report" / "cells.png").size[0] > 300
    assert Image.open(tmp_path / "report" / "pmish_beta.png").size[0] > 300

    dense = sum(p.numel() for p in G.parameters())
    comp = sum(p.numel() for p in small.parameters())
    s = summary(tmp_path, 12.0)
    assert "finished in 12 s" in s
    assert f"{dense:,} -> {comp:,} parameters ({comp / dense:.1%} of dense)" in s
    assert "fid1k_train 3.5, kid1k_train 0.0001736" in s


def test_arc_label_sits_on_the_curve():
    # matplotlib's arc3: quadratic Bézier with control point midpoint + rad·(dy, −dx); check against the curve
    a, b, rad = (1.0, 0.9), (3.4, 0.5), -0.35
    cx, cy = (a[0] + b[0]) / 2 + rad * (b[1] - a[1]), (a[1] + b[1]) / 2 - rad * (b[0] - a[0])
    t = 0.5
    bx = (1 - t) ** 2 * a[0] + 2 * (1 - t) * t * cx + t**2 * b[0]
    by = (1 - t) ** 2 * a[1] + 2 * (1 - t) * t * cy + t**2 * b[1]
    mx, my = _arc_midpoint(a, b, rad)
    assert abs(mx - bx) < 1e-12 and abs(my - by) < 1e-12 and my > 0.9  # bowed above both ends


def _learning_run(root):
    """A run folder with a generator, train config and stats, metrics and standalone reference points; returns
    the evaluated metric's name."""
    geno = load_genotype("tiny")
    G = build_generator(generator_spec(geno, resolution=32, width=8, latent_dim=12, activation="pmish"))
    save_generator(root / "compress" / "generator.safetensors", G)
    (root / "train").mkdir()
    (root / "train" / "config.json").write_text(json.dumps({"data": "sprites", "seed": 0}))
    rows = [{"step": 100 * i, "loss_d": 0.0, "metric_name": "fid64_train_randconv_proxy", "metric": v,
             "metric_is_proxy": True} for i, v in ((1, 8.0), (2, 2.0), (3, 0.5))]
    (root / "train" / "stats.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (root / "evaluate").mkdir()
    metric = "fid1k_train_randconv_proxy"
    (root / "evaluate" / "metrics.json").write_text(json.dumps({"artifacts": [
        {"name": "train/generator.safetensors", "metrics": {metric: {"mean": 0.3, "std": 0.0}}},
        {"name": "compress/generator.safetensors", "metrics": {metric: {"mean": 0.5, "std": 0.0}}}]}))
    (root / "evaluate" / "baselines.json").write_text(json.dumps({
        "floor": {metric: 0.1}, "ceiling": {metric: 2.1}, "floor_kind": "held-out real", "ceiling_kind": "noise"}))
    return metric


def test_learning_section_and_reference_points(tmp_path):
    """Side-by-side grids, the falling in-loop curve and the floor/ceiling numbers, from known inputs."""
    metric = _learning_run(tmp_path)

    text = write_report(tmp_path).read_text()
    assert "## Does it learn?" in text
    assert "8 at step 100 → 0.5 at step 300 (6.2% of the first value); best 0.5 at step 300." in text
    # position = (value - floor) / (ceiling - floor): 0.2/2 = 0.1 and 0.4/2 = 0.2
    assert "| held-out real (floor) | 0.1 | 0 |" in text and "| matched noise (ceiling) | 2.1 | 1 |" in text
    assert "| train/generator.safetensors | 0.3 | 0.100 |" in text
    assert "| compress/generator.safetensors | 0.5 | 0.200 |" in text
    assert "compress/generator.safetensors: 4.0× nearer the real floor than the noise ceiling." in text
    pair = Image.open(tmp_path / "report" / "real_vs_generated.png")
    assert pair.size[0] > 2 * pair.size[1] * 0.8 and pair.size[0] > 500
    assert Image.open(tmp_path / "report" / "quality_curve.png").size[0] > 300

    s = summary(tmp_path)
    assert f"{metric}: held-out real 0.1 | train 0.3 | compress 0.5 | matched noise 2.1" in s
    assert "20.0% of the way from real to noise (4.0× nearer the real floor than the noise ceiling)" in s


def test_reference_points_in_metrics_json_come_first(tmp_path):
    """`ganctl evaluate --reference-points` writes them into metrics.json; a stale standalone baselines.json
    beside it is not read."""
    (tmp_path / "evaluate").mkdir()
    metric = "kid1k_train_randconv_proxy"
    (tmp_path / "evaluate" / "metrics.json").write_text(json.dumps({
        "artifacts": [{"name": "g", "metrics": {metric: {"mean": 0.04, "std": 0.0}}}],
        "reference_points": {"floor": {metric: 0.01}, "ceiling": {metric: 0.21}, "floor_kind": "real",
                             "ceiling_kind": "noise"}}))
    (tmp_path / "evaluate" / "baselines.json").write_text(json.dumps({
        "floor": {metric: 5.0}, "ceiling": {metric: 9.0}, "floor_kind": "old", "ceiling_kind": "old"}))
    (row,) = reference_rows(tmp_path)
    assert (row["floor"], row["ceiling"], row["floor_kind"]) == (0.01, 0.21, "real")
    assert abs(row["generators"][0]["position"] - 0.15) < 1e-12  # (0.04 - 0.01) / (0.21 - 0.01)


DAMAGE = {  # file → contents that parse but are not as ganctl wrote them
    "evaluate/metrics.json": {"artifacts": [{"name": "g", "metrics": {"fid1k_train_randconv_proxy": {"mean": "low"}}}]},
    "evaluate/baselines.json": {"floor": {"fid1k_train_randconv_proxy": 0.1}, "floor_kind": "real",
                                "ceiling_kind": "noise"},
    "train/stats.jsonl": [{"step": 100, "metric": "fast"}],
    "train/config.json": {"data": "sprites", "seed": "zero"},
}


@pytest.mark.parametrize("name", sorted(DAMAGE))
@pytest.mark.parametrize("summary_only", [False, True])
def test_a_damaged_run_file_is_one_line_naming_it(tmp_path, capsys, name, summary_only):
    """`python -m ganctl.report` (the pipeline's last step): exit 3 and one line naming the file, not a traceback;
    an earlier report.md is left as it was."""
    import ganctl.report as report

    _learning_run(tmp_path)
    (tmp_path / "report.md").write_text("earlier report\n")
    assert report.main([str(tmp_path)]) == 0 and report.main(["--summary", str(tmp_path)]) == 0
    (tmp_path / "report.md").write_text("earlier report\n")
    bad = DAMAGE[name]
    text = "\n".join(json.dumps(r) for r in bad) + "\n" if name.endswith(".jsonl") else json.dumps(bad)
    (tmp_path / name).write_text(text)
    capsys.readouterr()
    rc = report.main(["--summary", str(tmp_path)] if summary_only else [str(tmp_path)])
    err = capsys.readouterr().err
    if summary_only and name.startswith("train/"):  # the summary does not read train's config or stats
        assert rc == 0 and err == ""
        return
    assert rc == 3, err
    assert err.count("\n") == 1 and str(tmp_path / name) in err and "Traceback" not in err
    assert (tmp_path / "report.md").read_text() == "earlier report\n"


@pytest.mark.parametrize("argv", [[], ["--summary"], ["--summary", "r", "ten"], ["--summary", "r", "1", "2"],
                                  ["--help"], ["a", "b"]])
def test_report_usage_errors_exit_2(tmp_path, capsys, monkeypatch, argv):
    """Before, `--summary` alone was taken for a run folder of that name, and a SECONDS that is not a number
    ended in a traceback."""
    import ganctl.report as report

    monkeypatch.chdir(tmp_path)
    assert report.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: python -m ganctl.report") and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # nothing written
