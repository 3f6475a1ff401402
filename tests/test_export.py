"""export: ONNX and TorchScript files that reproduce ganctl's generator, checked by running them."""
import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from ganctl.cli.app import app
from ganctl.compress.plan import decompose_model
from ganctl.core.sparse import SparseMasks
from ganctl.export import export_generator
from ganctl.genotype import load_genotype
from ganctl.io.artifact import save_generator
from ganctl.models import build_generator, generator_spec
from ganctl.models.artifact import load_generator

ort = pytest.importorskip("onnxruntime")
runner = CliRunner()


def _tiny():
    return build_generator(generator_spec(load_genotype("mmd-adversarialnas-cifar10"), resolution=32, width=8,
                                          latent_dim=12, activation="pmish")).eval()


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    torch.manual_seed(0)
    dense = _tiny()
    save_generator(root / "dense.safetensors", dense)
    comp = _tiny()
    plan = [
        {"layer": "cells.1.c4.conv", "type": "conv2d", "method": "cp", "rank": 5},
        {"layer": "cells.2.c2.conv", "type": "conv2d", "method": "tucker", "rank": [3, 4]},
        {"layer": "cells.1.skip_in.0", "type": "conv2d", "method": "svd", "rank": 3},
        {"layer": "latent_proj.2", "type": "linear", "method": "svd", "rank": 2},
    ]
    used, _ = decompose_model(comp, plan, n_iter=5)
    comp.spec = {**comp.spec, "decomposition": used}
    save_generator(root / "compressed.safetensors", comp)
    sparse = _tiny()
    SparseMasks(sparse, 0.2, "gradient", torch.Generator().manual_seed(0)).apply(sparse)
    save_generator(root / "sparse.safetensors", sparse)
    return {k: root / f"{k}.safetensors" for k in ("dense", "compressed", "sparse")}


def _reference(path, z):
    G, _ = load_generator(path)
    with torch.no_grad():
        return G(z).numpy()


def test_export_has_the_layers_it_claims(artifacts):
    G, info = load_generator(artifacts["compressed"])
    assert {e["method"] for e in info.spec["decomposition"]} == {"cp", "tucker", "svd"}
    G, _ = load_generator(artifacts["sparse"])
    w = [p for p in G.parameters() if p.dim() >= 2]
    density = sum(int(torch.count_nonzero(p)) for p in w) / sum(p.numel() for p in w)
    assert 0.15 < density < 0.25


@pytest.mark.parametrize("kind", ["dense", "compressed", "sparse"])
def test_onnx_dynamic_batch_matches_ganctl(artifacts, kind, tmp_path):
    out = tmp_path / f"{kind}.onnx"
    res = export_generator(artifacts[kind], out, "onnx", batch=2, dynamic_batch=True)
    assert res.batch is None and res.max_abs_diff < 1e-4
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["z"]
    for b in (1, 7):  # neither is the traced batch size
        z = torch.randn(b, 12, generator=torch.Generator().manual_seed(b))
        got = session.run(["images"], {"z": z.numpy()})[0]
        np.testing.assert_allclose(got, _reference(artifacts[kind], z), atol=1e-5, rtol=0)
        assert got.shape == (b, 3, 32, 32)


def test_onnx_fixed_batch_refuses_other_sizes(artifacts, tmp_path):
    out = tmp_path / "fixed.onnx"
    export_generator(artifacts["compressed"], out, "onnx", batch=3)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == [3, 12]
    z = torch.randn(3, 12)
    np.testing.assert_allclose(session.run(None, {"z": z.numpy()})[0], _reference(artifacts["compressed"], z),
                               atol=1e-5, rtol=0)
    with pytest.raises(Exception, match="(?i)dimension|shape"):
        session.run(None, {"z": torch.randn(4, 12).numpy()})


@pytest.mark.parametrize("kind", ["dense", "compressed", "sparse"])
def test_torchscript_matches_ganctl(artifacts, kind, tmp_path):
    out = tmp_path / f"{kind}.pt"
    export_generator(artifacts[kind], out, "torchscript", dynamic_batch=True)
    loaded = torch.jit.load(str(out))
    z = torch.randn(5, 12)
    with torch.no_grad():
        np.testing.assert_allclose(loaded(z).numpy(), _reference(artifacts[kind], z), atol=1e-5, rtol=0)
    fixed = tmp_path / f"{kind}-b2.pt"
    export_generator(artifacts[kind], fixed, "torchscript", batch=2)
    loaded = torch.jit.load(str(fixed))
    z = torch.randn(2, 12)
    with torch.no_grad():
        np.testing.assert_allclose(loaded(z).numpy(), _reference(artifacts[kind], z), atol=1e-5, rtol=0)
        with pytest.raises(Exception, match="exported for batch 2"):
            loaded(torch.randn(3, 12))


def test_cli_export_and_json(artifacts, tmp_path):
    out = tmp_path / "g.onnx"
    res = runner.invoke(app, ["export", str(artifacts["dense"]), "--out", str(out), "--dynamic-batch", "--json"])
    assert res.exit_code == 0, res.output
    line = json.loads(res.output.strip().splitlines()[-1])
    assert line["ok"] and line["output"] == str(out) and line["batch"] is None and line["format"] == "onnx"
    assert out.is_file()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--format", "tflite", "--out", "{tmp}/g.onnx"], 2, "not known"),
        (["--format", "onnx", "--out", "{tmp}/g.pt"], 2, "*.onnx"),
        (["--batch", "0", "--out", "{tmp}/g.onnx"], 2, "must be positive"),
        (["--out", "{tmp}/exists.onnx"], 2, "already exists"),
    ],
)
def test_cli_bad_options(artifacts, tmp_path, args, code, message):
    (tmp_path / "exists.onnx").write_bytes(b"keep me")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    res = runner.invoke(app, ["export", str(artifacts["dense"]), *args])
    assert res.exit_code == code, res.output
    assert message in res.output and "Traceback" not in res.output
    assert (tmp_path / "exists.onnx").read_bytes() == b"keep me"


def test_cli_bad_artifact_is_one_line_and_writes_nothing(tmp_path):
    bogus = tmp_path / "README.md"
    bogus.write_text("# not a model\n")
    res = runner.invoke(app, ["export", str(bogus), "--out", str(tmp_path / "g.onnx")])
    assert res.exit_code == 3 and "README.md" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["export", str(tmp_path / "missing.safetensors"), "--out", str(tmp_path / "g.onnx")])
    assert res.exit_code == 3 and "not found" in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md"]


def test_help_has_example():
    res = runner.invoke(app, ["export", "--help"], terminal_width=200)
    assert res.exit_code == 0 and "Example" in res.output and "ganctl export" in res.output
    for opt in ("--format", "--batch", "--dynamic-batch", "--seed", "--quiet", "--verbose", "--json"):
        assert opt in res.output
