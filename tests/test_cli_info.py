"""info: a readable table on stdout, the same facts in --json, one line for files it cannot read."""
import json

import torch
from typer.testing import CliRunner

from ganctl.cli.app import app
from ganctl.genotype import load_genotype
from ganctl.io.artifact import save_generator
from ganctl.models import build_generator, generator_spec

runner = CliRunner()


def test_artifact_table_and_json_agree(tmp_path):
    G = build_generator(generator_spec(load_genotype("tiny"), resolution=32, width=8, latent_dim=12))
    with torch.no_grad():
        next(p for p in G.parameters() if p.dim() >= 2).zero_()
    path = tmp_path / "g.safetensors"
    save_generator(path, G, {"data": "shapes", "steps": 40})
    n = sum(p.numel() for p in G.parameters())
    nz = sum(int(torch.count_nonzero(p)) for p in G.parameters())
    res = runner.invoke(app, ["info", str(path)], terminal_width=100)
    assert res.exit_code == 0, res.output
    assert "Pretty" not in res.output and "{" not in res.output  # a table, not a Python repr
    for text in ("generator", f"{n:,}", f"{nz:,}", "shapes", "tiny", "latent dim"):
        assert text in res.output, text
    res = runner.invoke(app, ["info", str(path), "--json"])
    item = json.loads(res.output.strip().splitlines()[-1])["items"][0]
    assert (item["params"], item["nonzero_params"], item["provenance"]["data"]) == (n, nz, "shapes")


def test_genotype_table_lists_the_cells():
    res = runner.invoke(app, ["info", "ganctl/genotypes/tiny.json"], terminal_width=120)
    assert res.exit_code == 0, res.output
    g = load_genotype("tiny").to_dict()
    assert "G cell 2" in res.output and f"c4:{g['generator']['cells'][0]['c4']}" in res.output


def test_unknown_file_type_is_one_line(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# hello\n")
    res = runner.invoke(app, ["info", str(readme)])
    assert res.exit_code == 3
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {readme}: not a ganctl file")
    assert "pickle" not in res.output.lower() and "torch" not in res.output.lower()


def test_run_folder_shows_its_settings_from_config_json(tmp_path):
    """A run folder's table names what was run (preset, data, steps, ...); --json carries the whole config."""
    run = tmp_path / "run"
    run.mkdir()
    config = {"preset": "tiny", "data": "sprites", "resolution": 16, "steps": 2600, "epochs": None,
              "batch_size": 64, "seed": 3, "lr_g": 0.001}
    (run / "config.json").write_text(json.dumps(config))
    (run / "generator.safetensors").write_bytes(b"")
    res = runner.invoke(app, ["info", str(run)], terminal_width=200)
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())  # the table wraps long rows
    assert "settings preset tiny data sprites resolution 16 steps 2600 batch size 64 seed 3 files" in text  # no None
    res = runner.invoke(app, ["info", str(run), "--json"])
    item = json.loads(res.output.strip().splitlines()[-1])["items"][0]
    assert item["config"] == config and item["command"] is None and item["finished"] is False
