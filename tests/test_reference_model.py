"""The paper's published generator: its genotype, its cell semantics and its checkpoints.

The reference forward passes here are hand-wired from torch.nn.functional ops and the tensors of a
state dict laid out as the paper's public code lays it out (reference-facts §2, §3), so they are
independent of ganctl's modules.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

from ganctl.cli.app import app
from ganctl.errors import InputFileError
from ganctl.genotype import load_genotype
from ganctl.models import build_generator, generator_spec
from ganctl.models.reference_import import (
    build_reference_discriminator,
    build_reference_generator,
    read_index_matrix,
)

runner = CliRunner()

# latest_G.npy as published (rows: cells; columns up0, up1, c0..c4)
PUBLISHED = [[0, 1, 3, 4, 6, 4, 1], [1, 1, 4, 0, 5, 5, 3], [0, 1, 4, 5, 6, 4, 4]]
UP_MODES = ["nearest", "bilinear", "bicubic", "convT"]
# normal op index -> (kernel, dilation, padding); 0 none, 1 skip
CONVS = {2: (1, 1, 0), 3: (3, 1, 1), 4: (5, 1, 2), 5: (3, 2, 2), 6: (5, 2, 4)}
SKIP_MODES = ["nearest", "bilinear", "nearest"]


def test_builtin_genotype_is_the_published_one_edge_by_edge() -> None:
    g = load_genotype("mmd-adversarialnas-cifar10")
    expected = [
        ["nearest", "bilinear", "conv_3x3", "conv_5x5", "dil_conv_5x5", "conv_5x5", "skip"],
        ["bilinear", "bilinear", "conv_5x5", "none", "dil_conv_3x3", "dil_conv_3x3", "conv_3x3"],
        ["nearest", "bilinear", "conv_5x5", "dil_conv_3x3", "dil_conv_5x5", "conv_5x5", "conv_5x5"],
    ]
    got = [[c[e] for e in ("up0", "up1", "c0", "c1", "c2", "c3", "c4")] for c in g.generator_cells]
    assert got == expected
    assert g.provenance["matrix"] == PUBLISHED
    assert "latest_G.npy" in g.provenance["imported_from"]
    assert "not_recovered" not in g.provenance and "reconstructed" not in g.provenance


def test_index_matrix_file_decodes_to_the_builtin(tmp_path: Path) -> None:
    path = tmp_path / "latest_G.npy"
    np.save(path, np.array(PUBLISHED, dtype=np.uint8))
    assert read_index_matrix(path).generator_cells == load_genotype("mmd-adversarialnas-cifar10").generator_cells
    bad = tmp_path / "obj.npy"
    np.save(bad, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputFileError, match="not a plain numeric"):
        read_index_matrix(bad)


@pytest.mark.parametrize("width,count", [(256, 20_185_879), (128, 5_931_415)])
def test_published_parameter_counts(width: int, count: int) -> None:
    G = build_generator(generator_spec(load_genotype("mmd-adversarialnas-cifar10"), width=width))
    assert sum(p.numel() for p in G.parameters()) == count


def test_dilated_ops_have_the_published_geometry() -> None:
    G = build_generator(generator_spec(load_genotype("mmd-adversarialnas-cifar10"), width=4, latent_dim=12))
    for name, (k, d, p) in {"cells.0.c2": (5, 2, 4), "cells.1.c2": (3, 2, 2), "cells.2.c0": (5, 1, 2)}.items():
        conv = G.get_submodule(name).conv
        assert (conv.kernel_size, conv.dilation, conv.padding) == ((k, k), (d, d), (p, p))


# ---------------------------------------------------------------- a reference-layout state dict
def reference_state(width: int, latent: int, matrix=PUBLISHED, seed: int = 0, prefix: str = "") -> dict:
    """Random tensors under the paper's generator key names (activation PMish: β per module)."""
    gen = torch.Generator().manual_seed(seed)

    def rnd(*shape: int, scale: float = 0.2) -> torch.Tensor:
        return torch.randn(*shape, generator=gen, dtype=torch.float64) * scale

    def beta() -> torch.Tensor:
        return 0.3 + 2 * torch.rand(1, generator=gen, dtype=torch.float64)

    sd: dict[str, torch.Tensor] = {}
    chunk = latent // 3
    for i, b in enumerate((4, 8, 16), 1):
        sd[f"l{i}.weight"], sd[f"l{i}.bias"] = rnd(b * b * width, chunk), rnd(b * b * width)
    for k, row in enumerate(matrix, 1):
        for e in (0, 1):
            if row[e] == 3:  # ConvTranspose: act -> depthwise 3x3 deconv -> 1x1 conv, no biases
                sd[f"cell{k}.up{e}.ups.0.convT.0.activation_fn.beta"] = beta()
                sd[f"cell{k}.up{e}.ups.0.convT.1.weight"] = rnd(width, 1, 3, 3)
                sd[f"cell{k}.up{e}.ups.0.convT.2.weight"] = rnd(width, width, 1, 1)
                continue
            sd[f"cell{k}.up{e}.ups.0.c.0.activation_fn.beta"] = beta()
            sd[f"cell{k}.up{e}.ups.0.c.1.weight"] = rnd(width, width, 1, 1)
            sd[f"cell{k}.up{e}.ups.0.c.1.bias"] = rnd(width)
        for j in range(5):
            if row[2 + j] >= 2:
                ks = CONVS[row[2 + j]][0]
                sd[f"cell{k}.c{j}.ops.0.op.0.activation_fn.beta"] = beta()
                sd[f"cell{k}.c{j}.ops.0.op.1.weight"] = rnd(width, width, ks, ks, scale=0.1)
                sd[f"cell{k}.c{j}.ops.0.op.1.bias"] = rnd(width)
        for i in range(k - 1):
            sd[f"cell{k}.skip_in_ops.{i}.weight"] = rnd(width, width, 1, 1)
            sd[f"cell{k}.skip_in_ops.{i}.bias"] = rnd(width)
    sd["to_rgb.0.weight"], sd["to_rgb.0.bias"] = 1 + rnd(width), rnd(width)
    sd["to_rgb.0.running_mean"] = rnd(width)
    sd["to_rgb.0.running_var"] = 0.5 + torch.rand(width, generator=gen, dtype=torch.float64)
    sd["to_rgb.0.num_batches_tracked"] = torch.tensor(100)
    sd["to_rgb.1.activation_fn.beta"] = beta()
    sd["to_rgb.2.weight"], sd["to_rgb.2.bias"] = rnd(3, width, 3, 3), rnd(3)
    return {prefix + k: v for k, v in sd.items()}


def pmish(x: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    return x * torch.tanh(F.softplus(beta * x) / beta)


def _up(sd: dict, k: int, e: int, mode: str, h: torch.Tensor) -> torch.Tensor:
    if mode == "convT":
        p = f"cell{k}.up{e}.ups.0.convT."
        y = pmish(h, sd[p + "0.activation_fn.beta"])
        y = F.conv_transpose2d(y, sd[p + "1.weight"], stride=2, padding=1, output_padding=1, groups=h.shape[1])
        return F.conv2d(y, sd[p + "2.weight"])
    x = F.interpolate(h, scale_factor=2, mode=mode)
    p = f"cell{k}.up{e}.ups.0.c."
    return F.conv2d(pmish(x, sd[p + "0.activation_fn.beta"]), sd[p + "1.weight"], sd[p + "1.bias"])


def _op(sd: dict, k: int, j: int, index: int, x: torch.Tensor) -> torch.Tensor:
    if index == 1:  # skip
        return x
    _, dil, pad = CONVS[index]
    p = f"cell{k}.c{j}.ops.0.op."
    y = pmish(x, sd[p + "0.activation_fn.beta"])
    return F.conv2d(y, sd[p + "1.weight"], sd[p + "1.bias"], padding=pad, dilation=dil)


def reference_forward(sd: dict, z: torch.Tensor, matrix=PUBLISHED, skip_before: bool = False) -> torch.Tensor:
    """The paper's generator, hand-wired. ``skip_before`` = the old (wrong) skip output, for contrast."""
    width = sd["to_rgb.2.weight"].shape[1]
    chunk = z.shape[1] // 3
    lat = [F.linear(z[:, i * chunk : (i + 1) * chunk], sd[f"l{i + 1}.weight"], sd[f"l{i + 1}.bias"]) for i in range(3)]
    lat = [v.view(-1, width, b, b) for v, b in zip(lat, (4, 8, 16), strict=True)]
    h, skips = lat[0], []
    for k, row in enumerate(matrix, 1):
        if k > 1:
            h = h + lat[k - 1]
        node0, node1 = _up(sd, k, 0, UP_MODES[row[0]], h), _up(sd, k, 1, UP_MODES[row[1]], h)
        node2 = sum(_op(sd, k, j, row[2 + j], n) for j, n in ((0, node0), (1, node1)) if row[2 + j])
        early = node2
        for i, s in enumerate(skips):
            s = F.interpolate(s, size=node0.shape[-2:], mode=SKIP_MODES[k - 1])
            node2 = node2 + F.conv2d(s, sd[f"cell{k}.skip_in_ops.{i}.weight"], sd[f"cell{k}.skip_in_ops.{i}.bias"])
        skips.append(early if skip_before else node2)
        h = sum(_op(sd, k, j, row[2 + j], n) for j, n in ((2, node0), (3, node1), (4, node2)) if row[2 + j])
    h = F.batch_norm(
        h, sd["to_rgb.0.running_mean"], sd["to_rgb.0.running_var"], sd["to_rgb.0.weight"], sd["to_rgb.0.bias"],
        training=False, eps=1e-5,
    )
    h = pmish(h, sd["to_rgb.1.activation_fn.beta"])
    return torch.tanh(F.conv2d(h, sd["to_rgb.2.weight"], sd["to_rgb.2.bias"], padding=1))


def test_generator_from_reference_state_dict_matches_hand_wired_forward() -> None:
    sd = reference_state(width=6, latent=12, prefix="module.")
    G = build_reference_generator(sd, load_genotype("mmd-adversarialnas-cifar10")).double()
    # ganctl stores fp32: compare in fp64 against the same fp32-rounded numbers
    plain = {k[len("module.") :]: v.float().double() if v.is_floating_point() else v for k, v in sd.items()}
    z = torch.randn(5, 12, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    with torch.no_grad():
        ours, ref = G(z), reference_forward(plain, z)
        old = reference_forward(plain, z, skip_before=True)
    assert ours.shape == (5, 3, 32, 32)
    assert torch.allclose(ours, ref, atol=1e-10, rtol=0)
    # the check can tell the skip semantics apart: the old one is far off
    assert (old - ref).abs().max() > 1e-2


def test_transposed_conv_and_bicubic_up_edges_import_too(tmp_path: Path) -> None:
    matrix = [[3, 2, 3, 4, 6, 4, 1], [1, 3, 4, 0, 5, 5, 3], [2, 1, 2, 5, 0, 4, 1]]
    path = tmp_path / "g.npy"
    np.save(path, np.array(matrix, dtype=np.int64))
    sd = reference_state(width=4, latent=12, matrix=matrix, seed=3)
    G = build_reference_generator(sd, read_index_matrix(path)).double()
    plain = {k: v.float().double() if v.is_floating_point() else v for k, v in sd.items()}
    z = torch.randn(2, 12, dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(G(z), reference_forward(plain, z, matrix), atol=1e-10, rtol=0)


def test_wrong_genotype_for_the_weights_is_one_clear_error() -> None:
    sd = reference_state(width=4, latent=12)
    with pytest.raises(InputFileError, match="do not fit the genotype"):
        build_reference_generator(sd, load_genotype("tiny"))


# ---------------------------------------------------------------- the discriminator
def reference_discriminator_state(width: int, seed: int = 0) -> dict:
    """An AutoGAN D laid out as the paper's, with hook-style spectral norm after a few train steps."""
    torch.manual_seed(seed)
    sn = torch.nn.utils.spectral_norm
    mods = {
        "block1.c1": torch.nn.Conv2d(3, width, 3, padding=1),
        "block1.c2": torch.nn.Conv2d(width, width, 3, padding=1),
        "block1.c_sc": torch.nn.Conv2d(3, width, 1),
        "block2.c1": torch.nn.Conv2d(width, width, 3, padding=1),
        "block2.c2": torch.nn.Conv2d(width, width, 3, padding=1),
        "block2.c_sc": torch.nn.Conv2d(width, width, 1),
        "block3.c1": torch.nn.Conv2d(width, width, 3, padding=1),
        "block3.c2": torch.nn.Conv2d(width, width, 3, padding=1),
        "block4.c1": torch.nn.Conv2d(width, width, 3, padding=1),
        "block4.c2": torch.nn.Conv2d(width, width, 3, padding=1),
        "l5": torch.nn.Linear(width, 16, bias=False),
    }
    sd = {}
    for name, m in mods.items():
        m = sn(m)
        x = torch.randn(2, *((m.in_channels, 8, 8) if isinstance(m, torch.nn.Conv2d) else (m.in_features,)))
        for _ in range(3):  # power iterations move u, v off their initial values
            m(x)
        sd.update({f"module.{name}.{k}": v.detach().clone() for k, v in m.state_dict().items()})
    return sd


def reference_d_forward(sd: dict, x: torch.Tensor) -> torch.Tensor:
    """AutoGAN D with W / (uᵀ W v) computed by hand from the stored hook-style tensors."""

    def w(name: str) -> torch.Tensor:
        orig, u, v = sd[f"{name}.weight_orig"], sd[f"{name}.weight_u"], sd[f"{name}.weight_v"]
        return orig / torch.dot(u, orig.reshape(orig.shape[0], -1) @ v)

    def conv(name: str, h: torch.Tensor, pad: int = 1) -> torch.Tensor:
        return F.conv2d(h, w(name), sd[f"{name}.bias"], padding=pad)

    h = F.avg_pool2d(conv("block1.c2", F.relu(conv("block1.c1", x))), 2) + conv("block1.c_sc", F.avg_pool2d(x, 2), 0)
    r = F.avg_pool2d(conv("block2.c2", F.relu(conv("block2.c1", F.relu(h)))), 2)
    h = r + F.avg_pool2d(conv("block2.c_sc", h, 0), 2)
    for b in ("block3", "block4"):
        h = h + conv(f"{b}.c2", F.relu(conv(f"{b}.c1", F.relu(h))))
    return F.linear(F.relu(h).sum(dim=(2, 3)), w("l5"))


def test_reference_discriminator_imports_and_matches_spectral_norm_forward() -> None:
    sd = reference_discriminator_state(width=6)
    D = build_reference_discriminator(sd)
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    plain = {k[len("module.") :]: v for k, v in sd.items()}
    with torch.no_grad():
        ours, ref = D(x), reference_d_forward(plain, x)
    assert ours.shape == (4, 16)
    assert torch.allclose(ours, ref, atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------- the CLI, end to end
def _checkpoint(tmp_path: Path, width: int = 6) -> tuple[Path, dict]:
    def fp32(sd: dict) -> dict:
        return {k: v.float() if v.is_floating_point() else v for k, v in sd.items()}

    avg = fp32(reference_state(width, 12, prefix="module."))
    raw = fp32(reference_state(width, 12, seed=5))
    ckpt = {
        "epoch": 500,
        "model": "autogan_cifar10_a",
        "gen_state_dict": raw,
        "avg_gen_state_dict": avg,
        "dis_state_dict": reference_discriminator_state(width=8),
        "gen_optimizer": {"state": {}, "param_groups": [{"lr": 2e-4, "betas": (0.0, 0.9), "params": [0, 1]}]},
        "dis_optimizer": {"state": {}, "param_groups": []},
        "best_fid": np.float64(4.97),
        "best_is": 9.1,
        "path_helper": {"prefix": "logs/x", "ckpt_path": "logs/x/Model"},
    }
    path = tmp_path / "checkpoint_best.pth"
    torch.save(ckpt, path)
    return path, ckpt


def _invoke(*args: str):
    return runner.invoke(app, list(args))


def test_import_cli_round_trips_through_info_sample_and_compress(tmp_path: Path) -> None:
    from ganctl.models.artifact import load_discriminator, load_generator

    ckpt_path, ckpt = _checkpoint(tmp_path)
    geno = tmp_path / "latest_G.npy"
    np.save(geno, np.array(PUBLISHED, dtype=np.uint8))
    out = tmp_path / "imported"
    res = _invoke("import", str(ckpt_path), "--genotype", str(geno), "--out", str(out), "--json")
    assert res.exit_code == 0, res.output
    line = json.loads(res.stdout.strip().splitlines()[-1])
    assert line["output"] == str(out / "generator.safetensors") and line["activation"] == "pmish"

    G, info = load_generator(out / "generator.safetensors")
    assert info.provenance["state_dict_key"] == "avg_gen_state_dict"
    assert info.provenance["reference_values"]["best_fid"] == pytest.approx(4.97)
    z = torch.randn(3, 12, generator=torch.Generator().manual_seed(3))
    plain = {k[len("module.") :]: v for k, v in ckpt["avg_gen_state_dict"].items()}
    with torch.no_grad():
        assert torch.allclose(G(z), reference_forward(plain, z), atol=1e-5)
    D, _ = load_discriminator(out / "discriminator.safetensors")
    x = torch.randn(2, 3, 32, 32)
    d_plain = {k[len("module.") :]: v for k, v in ckpt["dis_state_dict"].items()}
    with torch.no_grad():
        assert torch.allclose(D(x), reference_d_forward(d_plain, x), atol=1e-5)

    # --key gen_state_dict picks the raw generator
    res = _invoke("import", str(ckpt_path), "--genotype", str(geno), "--out", str(tmp_path / "raw"),
                  "--key", "gen_state_dict", "--no-discriminator")
    assert res.exit_code == 0, res.output
    G_raw, _ = load_generator(tmp_path / "raw" / "generator.safetensors")
    with torch.no_grad():
        assert torch.allclose(G_raw(z), reference_forward(ckpt["gen_state_dict"], z), atol=1e-5)
    assert not (tmp_path / "raw" / "discriminator.safetensors").exists()

    res = _invoke("info", str(out / "generator.safetensors"), "--json")
    assert res.exit_code == 0, res.output
    assert "MMD-PMish-NAS" in res.stdout
    res = _invoke("sample", str(out / "generator.safetensors"), "--num", "4", "--grid", str(tmp_path / "g.png"),
                  "--device", "cpu")
    assert res.exit_code == 0 and (tmp_path / "g.png").stat().st_size > 0, res.output
    res = _invoke("compress", str(out / "generator.safetensors"), "--out", str(tmp_path / "c"), "--rank", "2",
                  "--layers", "cells.1.c*.conv", "--fit-iters", "3", "--device", "cpu", "--json")
    assert res.exit_code == 0, res.output
    Gc, cinfo = load_generator(json.loads(res.stdout.strip().splitlines()[-1])["output"])
    # cell 1 of the published genotype: c1 is none, the other four normal edges are convs
    assert [e["layer"] for e in cinfo.spec["decomposition"]] == [f"cells.1.c{j}.conv" for j in (0, 2, 3, 4)]
    assert sum(p.numel() for p in Gc.parameters()) < sum(p.numel() for p in G.parameters())

    # the imported D serves as the DGL teacher of a fine-tuning run
    res = _invoke("compress", str(out / "generator.safetensors"), "--out", str(tmp_path / "dgl"), "--rank", "2",
                  "--layers", "cells.1.c0.conv", "--fit-iters", "3", "--finetune-steps", "1", "--batch-size", "4",
                  "--data", "shapes", "--teacher-d", str(out / "discriminator.safetensors"), "--device", "cpu")
    assert res.exit_code == 0, res.output

    # a second import into the same folder is refused without --force
    res = _invoke("import", str(ckpt_path), "--genotype", str(geno), "--out", str(out))
    assert res.exit_code == 6 and "--force" in res.output


class _RunsCode:
    def __reduce__(self):
        return (print, ("this must never run",))


@pytest.mark.parametrize("case", ["missing", "text", "no_key", "shape", "code", "not_dict"])
def test_import_bad_files_are_one_line_exit_3(tmp_path: Path, case: str, capfd) -> None:
    path = tmp_path / "ckpt.pth"
    genotype = "mmd-adversarialnas-cifar10"
    message = {
        "missing": "checkpoint not found",
        "text": "not a readable PyTorch checkpoint",
        "no_key": "no 'avg_gen_state_dict' entry",
        "shape": "has shape",
        "code": "refusing to unpickle",
        "not_dict": "expected a dict",
    }[case]
    if case == "text":
        path.write_text("hello")
    elif case == "no_key":
        torch.save({"gen_state_dict": reference_state(4, 12)}, path)
    elif case == "shape":
        sd = reference_state(4, 12)
        sd["cell2.c0.ops.0.op.1.weight"] = torch.zeros(4, 4, 3, 3)
        torch.save({"avg_gen_state_dict": sd}, path)
    elif case == "code":
        torch.save({"avg_gen_state_dict": reference_state(4, 12), "args": _RunsCode()}, path)
    elif case == "not_dict":
        torch.save([1, 2, 3], path)
    res = _invoke("import", str(path), "--genotype", genotype, "--out", str(tmp_path / "o"))
    assert res.exit_code == 3, res.output
    lines = [ln for ln in res.output.strip().splitlines() if ln]
    assert len(lines) == 1 and str(path) in lines[0] and message in lines[0], res.output
    assert "this must never run" not in res.output + capfd.readouterr().out
    assert not (tmp_path / "o").exists()


def test_pickle_is_never_fully_loaded(tmp_path: Path) -> None:
    """Sanity check of the test above: a plain pickle.load of that file would run the payload."""
    path = tmp_path / "c.pkl"
    path.write_bytes(pickle.dumps(_RunsCode()))
    from ganctl.models.reference_import import load_reference_checkpoint

    with pytest.raises(InputFileError):
        load_reference_checkpoint(path)
