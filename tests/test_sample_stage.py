"""ganctl.sample.run(cfg): the sample stage as a function, without the CLI; and sample's --no-compile."""
import numpy as np
import pytest
import torch
from PIL import Image
from tiny_artifact import tiny_generator_artifact
from typer.testing import CliRunner

import ganctl
from ganctl.cli.app import app
from ganctl.errors import UsageError
from ganctl.evaluate.generate import make_noise, to_uint8
from ganctl.sample import SampleConfig


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    path, G = tiny_generator_artifact(tmp_path_factory.mktemp("art"))
    return path, G


def _direct(G, n, seed):
    """Hand-wired: the seeded noise through the module, mapped to uint8 N×H×W×3."""
    with torch.no_grad():
        return to_uint8(G(make_noise(n, 12, seed))).permute(0, 2, 3, 1).numpy()


def test_run_writes_each_destination_with_the_seeded_pixels(artifact, tmp_path):
    path, G = artifact
    want = _direct(G, 5, 4)
    npz = ganctl.sample.run(SampleConfig(path, num=5, npz=tmp_path / "s.npz", batch_size=2, device="cpu", seed=4))
    assert npz.count == 5 and npz.precision == "fp32" and len(npz.artifact_sha256) == 64
    np.testing.assert_array_equal(np.load(npz.path)["x"], want)
    d = ganctl.sample.run(SampleConfig(path, num=5, out_dir=tmp_path / "d", device="cpu", seed=4))
    assert d.path == tmp_path / "d" and d.count == 5
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "d" / "000004.png")), want[4])
    grid = ganctl.sample.run(SampleConfig(path, num=4, grid=tmp_path / "g.png", nrow=4, device="cpu", seed=4))
    assert Image.open(grid.path).size == (4 * 32 + 5 * 2, 32 + 2 * 2)
    rows = ganctl.sample.run(SampleConfig(path, num=2, interpolate=3, grid=tmp_path / "i.png", device="cpu"))
    assert rows.count == 6 and Image.open(rows.path).size == (3 * 32 + 4 * 2, 2 * 32 + 3 * 2)


def test_run_checks_flags_before_reading_the_artifact(tmp_path):
    missing = tmp_path / "missing.safetensors"  # never read: every case is a usage error first
    for cfg, match in [
        (SampleConfig(missing, grid=tmp_path / "g.png", npz=tmp_path / "x.npz"), "exactly one"),
        (SampleConfig(missing, num=0, grid=tmp_path / "g.png"), "must be positive"),
        (SampleConfig(missing, interpolate=1, grid=tmp_path / "g.png"), "K >= 2"),
        (SampleConfig(missing, grid=tmp_path / "g.jpg"), "PNG"),
        (SampleConfig(missing, precision="fp8", grid=tmp_path / "g.png"), "fp8"),
    ]:
        with pytest.raises(UsageError, match=match):
            ganctl.sample.run(cfg)
    assert list(tmp_path.iterdir()) == []


def test_cli_accepts_no_compile(artifact, tmp_path):
    path, G = artifact
    res = CliRunner().invoke(app, ["sample", str(path), "--num", "3", "--seed", "4", "--npz", str(tmp_path / "a.npz"),
                                   "--no-compile", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    np.testing.assert_array_equal(np.load(tmp_path / "a.npz")["x"], _direct(G, 3, 4))
