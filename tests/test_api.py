"""The public Python API (`import ganctl`): thin wrappers that give the same results as the cores and the CLI."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch
from evaluate_standins import STANDIN, StandinNet, TinyGenerator, fake_data, install_standin
from PIL import Image

import ganctl
from ganctl.errors import UsageError
from ganctl.evaluate.extractors import unregister_extractor
from ganctl.evaluate.generate import make_noise
from ganctl.io.artifact import save_generator
from ganctl.models import build_generator, generator_spec


@pytest.fixture
def standin():
    yield install_standin()
    unregister_extractor(STANDIN)


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    G = build_generator(generator_spec(ganctl.load_genotype("mmd-adversarialnas-cifar10"), resolution=32, width=8,
                                       latent_dim=12))
    path = tmp_path_factory.mktemp("api") / "generator.safetensors"
    save_generator(path, G.eval(), {"data": "shapes"})
    return path


def test_import_is_light_and_documented():
    code = "import sys, ganctl; print(json.dumps(['torch' in sys.modules, ganctl.__all__]))"
    out = subprocess.run([sys.executable, "-c", "import json; " + code], capture_output=True, text=True, check=True)
    torch_loaded, names = json.loads(out.stdout)
    assert torch_loaded is False
    for name in ("search", "train", "compress", "evaluate", "sample", "load_generator", "load_genotype", "export"):
        assert name in names and callable(getattr(ganctl, name))
        assert getattr(ganctl, name).__doc__ and getattr(ganctl, name).__annotations__


def test_cli_help_and_stage_names_stay_light():
    """`ganctl --help` builds the whole Typer app without torch; the stage functions resolve through the API."""
    code = ("import sys, ganctl, ganctl.cli.app; light = 'torch' not in sys.modules; "
            "from ganctl.export import DEFAULT_OPSET, FORMATS; light = light and 'torch' not in sys.modules; "
            "print(light, ganctl.evaluate.run.__module__, ganctl.sample.run.__module__, callable(ganctl.sample))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "ganctl.evaluate.stage", "ganctl.sample.stage", "True"]


def test_api_functions_introspect_like_functions():
    """help(), inspect.signature and IDEs probe dunders; a missing name is an AttributeError, not an import error."""
    import inspect

    for name in ("search", "train", "compress", "evaluate", "sample", "export"):
        func = getattr(ganctl, name)
        params = inspect.signature(func).parameters
        assert list(params) == list(inspect.signature(func.__wrapped__).parameters) and params
        assert not hasattr(func, "no_such_submodule")
    assert ganctl.train.loop.__name__ == "ganctl.train.loop"  # the subpackage still resolves


def test_load_and_sample_match_a_hand_computation(artifact, tmp_path):
    G = ganctl.load_generator(artifact)
    assert G.latent_dim == 12 and G.artifact.provenance["data"] == "shapes" and not G.training
    images = ganctl.sample(G, num=5, seed=3, batch_size=2, device="cpu", npz=tmp_path / "s.npz",
                           grid=tmp_path / "g.png", out_dir=tmp_path / "d")
    with torch.no_grad():
        ref = G(make_noise(5, 12, 3))
    expected = ((ref.double() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    assert torch.equal(images, expected)
    assert np.array_equal(np.load(tmp_path / "s.npz")["x"], expected.permute(0, 2, 3, 1).numpy())
    assert np.array_equal(np.asarray(Image.open(tmp_path / "d" / "000004.png")), expected[4].permute(1, 2, 0).numpy())
    assert Image.open(tmp_path / "g.png").size == (3 * 32 + 4 * 2, 2 * 32 + 3 * 2)
    # a path works as well as a module
    assert torch.equal(ganctl.sample(artifact, num=5, seed=3, device="cpu"), images)
    ganctl.sample(G, num=5, seed=3, device="cpu", grid=tmp_path / "big.png", scale=2)
    big = np.asarray(Image.open(tmp_path / "big.png"))
    assert big.shape == (2 * 64 + 3 * 2, 3 * 64 + 4 * 2, 3)
    assert np.array_equal(big[2:66:2, 2:66:2], expected[0].permute(1, 2, 0).numpy())


@pytest.mark.parametrize("kwargs, message", [
    ({"scale": 2}, "--scale enlarges a --grid"),  # scale without a grid: the CLI refuses it too
    ({"grid": "g.jpg"}, "name it \\*.png"),
    ({"num": 0}, "--num must be positive"),
    ({"batch_size": -1}, "--batch-size must be positive"),
    ({"precision": "fp8"}, "precision"),
    ({"grid": "g.png", "scale": 99}, "--scale must be in 1..16"),
])
def test_sample_api_refuses_what_the_cli_refuses(artifact, tmp_path, kwargs, message):
    """Checked before anything is written: every case names a destination (the grid, else an .npz)."""
    destination = {"grid": tmp_path / kwargs["grid"]} if "grid" in kwargs else {"npz": tmp_path / "s.npz"}
    kwargs = {**kwargs, **destination}
    with pytest.raises(UsageError, match=message):
        ganctl.sample(artifact, seed=3, device="cpu", **kwargs)
    assert not list(tmp_path.iterdir())


def _fid_float64(G, data, n, seed):
    """FID from the stand-in features, in float64 numpy/scipy, independently of ganctl.evaluate.stats."""
    with torch.no_grad():
        fake = ((G(make_noise(n, G.latent_dim, seed)) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
        a = StandinNet()(fake)[0].double().numpy()
        b = StandinNet()(data.images)[0].double().numpy()
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    d = a.mean(0) - b.mean(0)
    return float(d @ d + np.trace(s1) + np.trace(s2) - 2 * np.trace(scipy.linalg.sqrtm(s1 @ s2).real))


def test_evaluate_accepts_any_callable_generator(standin):
    data = fake_data(80)
    G = TinyGenerator().eval()  # a callable is run as given (as clean-fid does): the caller picks eval mode
    first = []
    by_module = ganctl.evaluate(G, data, ["fid", "pr"], num_samples=64, seeds=[0], extractor=STANDIN,
                                device="cpu", batch_size=16, progress=lambda *a: first.append(a))
    assert [a for a in first if a[0] == "reference statistics"] == [("reference statistics", n, 80)
                                                                    for n in (16, 32, 48, 64, 80)]

    def gen(z: torch.Tensor) -> torch.Tensor:  # a plain function, as clean-fid's gen=
        return G(z)

    seen = []
    by_callable = ganctl.evaluate(gen, data, ["fid", "pr"], num_samples=64, seeds=[0], latent_dim=G.latent_dim,
                                  extractor=STANDIN, device="cpu", batch_size=16,
                                  progress=lambda stage, done, total: seen.append((stage, done, total)))
    a, b = by_module["artifacts"][0]["metrics"], by_callable["artifacts"][0]["metrics"]
    assert a.keys() == b.keys()
    for name in a:
        for key in ("mean", "precision", "recall"):
            if key in a[name]:
                got, want = b[name][key], a[name][key]
                assert (got["mean"] if isinstance(got, dict) else got) == pytest.approx(
                    want["mean"] if isinstance(want, dict) else want, rel=1e-9)
    fid = b["fid64_train_standin-test_proxy"]["mean"]
    assert fid == pytest.approx(_fid_float64(G, data, 64, 0), rel=1e-6)
    # progress: the reference is cached now, so only generation reports, counts rising to the total
    stages = list(dict.fromkeys(s for s, _, _ in seen))
    assert stages == ["gen seed 0: generate + features"]
    assert [d for _, d, _ in seen] == [16, 32, 48, 64]
    assert seen[-1][1] == seen[-1][2] == 64
    assert "cost" not in by_callable["artifacts"][0]  # cost is opt-in from Python


def test_evaluate_callable_needs_latent_dim(standin):
    with pytest.raises(TypeError, match="latent_dim"):
        ganctl.evaluate(lambda z: z, fake_data(8), ["fid"], extractor=STANDIN, device="cpu")


def test_export_from_python(artifact, tmp_path):
    pytest.importorskip("onnxruntime")
    res = ganctl.export(artifact, tmp_path / "g.onnx", dynamic_batch=True)
    assert res.batch is None and res.max_abs_diff < 1e-4 and (tmp_path / "g.onnx").is_file()


def test_train_search_compress_wrappers_match_the_cli(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from ganctl.cli.app import app
    from ganctl.models.artifact import load_generator as load_with_info

    monkeypatch.setenv("GANCTL_CACHE", str(tmp_path / "cache"))
    res = ganctl.search(tmp_path / "s", data="shapes", preset="tiny", steps=3, device="cpu", seed=1)
    genotype = tmp_path / "s" / "genotype.json"
    assert Path(res["output"]) == genotype and ganctl.load_genotype(genotype).generator_cells
    opts = dict(data="shapes", genotype=str(genotype), width=8, d_width=16, batch_size=8, steps=2, eval_every=0,
                device="cpu", deterministic=True)
    summary = ganctl.train(tmp_path / "api", preset="tiny", **opts)
    cli = ["train", "--preset", "tiny", "--out", str(tmp_path / "cli"), "--quiet"]
    for k, v in opts.items():
        cli += [f"--{k.replace('_', '-')}"] if v is True else [f"--{k.replace('_', '-')}", str(v)]
    assert CliRunner().invoke(app, cli).exit_code == 0
    a, _ = load_with_info(summary["output"])
    b, _ = load_with_info(tmp_path / "cli" / "generator.safetensors")
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))
    out = ganctl.compress(summary["output"], tmp_path / "c", rank=2, device="cpu", fit_iters=3)
    small = ganctl.load_generator(out["output"])
    assert small.artifact.spec["decomposition"] and all(e["rank"] == 2 for e in small.artifact.spec["decomposition"]
                                                        if isinstance(e["rank"], int))


def test_train_resume_reads_the_saved_config_as_the_cli_does(tmp_path, monkeypatch):
    """`ganctl.train(resume=True)` goes through train's saved-config loader: a damaged config.json is a bad input
    file naming it (before, the API read it raw and failed inside the config), and nothing is written."""
    from ganctl.errors import InputFileError

    monkeypatch.setenv("GANCTL_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "run"
    ganctl.train(out, preset="tiny", data="shapes", width=4, d_width=8, batch_size=4, steps=1, eval_every=0,
                 device="cpu")
    config = out / "config.json"
    saved = json.loads(config.read_text())
    saved["ema_decay"] = "fast"
    config.write_text(json.dumps(saved))
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    with pytest.raises(InputFileError, match="config.json.*ema_decay|ema_decay.*config.json"):
        ganctl.train(out, resume=True, steps=2, allow_change=["steps"])
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
