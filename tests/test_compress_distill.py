"""Output distillation while fine-tuning a decomposed G: the loss term against a float64 formula, its effect,
and the flag's checks and record."""
import copy
import json

import pytest
import torch
from test_compress_finetune import _models
from tiny_artifact import tiny_generator_artifact
from torch import nn
from typer.testing import CliRunner

from ganctl.cli.app import app
from ganctl.compress.finetune import FinetuneConfig, finetune
from ganctl.core.step import GANStep, StepModules
from ganctl.data import BatchStream, load_data
from ganctl.io.artifact import read_artifact
from ganctl.recipe import Recipe
from ganctl.runtime import World


class _G(nn.Module):
    latent_dim = 4

    def __init__(self, seed: int):
        super().__init__()
        torch.manual_seed(seed)
        self.fc = nn.Linear(4, 3 * 4 * 4)

    def forward(self, z):
        return torch.tanh(self.fc(z)).view(-1, 3, 4, 4)


class _D(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.fc = nn.Linear(3 * 4 * 4, 5)

    def forward(self, x):
        return self.fc(x.flatten(1))


def _step(g_teacher, weight):
    G, D = _G(1), _D()
    opt = torch.optim.Adam(G.parameters())
    mods = StepModules(G, D, G, G, D, D, None, g_teacher)
    return GANStep(mods, opt, torch.optim.Adam(D.parameters()), Recipe(precision="fp32"),
                   device=torch.device("cpu"), world=World(), distill_weight=weight), G


def test_the_distill_term_is_the_mean_absolute_difference_to_the_teacher():
    teacher = _G(2).requires_grad_(False)
    real = torch.rand(6, 3, 4, 4) * 2 - 1
    z = torch.randn(6, 4)
    plain, G = _step(None, 0.0)
    with_term, _ = _step(teacher, 0.7)
    base, _ = plain.generator_loss(real, z)
    total, _ = with_term.generator_loss(real, z)
    with torch.no_grad():
        expected = 0.7 * (G(z).double() - teacher(z).double()).abs().mean()
    assert float((total - base).detach()) == pytest.approx(float(expected), rel=1e-5, abs=1e-7)
    assert float(expected) > 0.01  # the two nets differ: the check is not vacuous


def test_distillation_pulls_the_student_toward_the_teacher(tmp_path):
    """A decomposed G fine-tuned with a strong distill term ends nearer the dense G's output than without."""
    dense, D = _models()
    data = load_data("shapes", resolution=32, max_images=64)
    z = torch.randn(16, dense.latent_dim, generator=torch.Generator().manual_seed(5))

    def distance(weight):
        torch.manual_seed(0)
        student, teacher = copy.deepcopy(dense), copy.deepcopy(dense)
        with torch.no_grad():  # the student starts away from the teacher
            for p in student.parameters():
                p.add_(0.05 * torch.randn_like(p))
        cfg = FinetuneConfig(steps=12, batch_size=8, checkpoint_every=100, lr_g=2e-3, lr_d=1e-3,
                             distill_weight=weight, ema_decay=0.0, ema_warmup=False)
        finetune(student, copy.deepcopy(D), None, BatchStream(data, 8, "cpu", seed=0), cfg,
                 torch.device("cpu"), tmp_path / f"ft{weight}.pt", {"plan": []}, g_teacher=teacher)
        with torch.no_grad():
            return float((student(z) - teacher.eval()(z)).abs().mean())

    assert distance(20.0) < 0.7 * distance(0.0)


def test_cli_checks_and_records_the_weight(tmp_path):
    art, _ = tiny_generator_artifact(tmp_path)
    common = [str(art), "--rank", "2", "--data", "shapes", "--device", "cpu", "--batch-size", "4", "--quiet"]
    bad = CliRunner().invoke(app, ["compress", *common, "--out", str(tmp_path / "bad"), "--finetune-steps", "1",
                                   "--distill-weight", "-1"])
    assert bad.exit_code == 2 and "--distill-weight" in bad.output and not (tmp_path / "bad").exists()
    nan = CliRunner().invoke(app, ["compress", *common, "--out", str(tmp_path / "nan"), "--finetune-steps", "1",
                                   "--distill-weight", "nan"])
    assert nan.exit_code == 2 and "distill_weight" in nan.output.replace("-", "_") and not (tmp_path / "nan").exists()
    idle = CliRunner().invoke(app, ["compress", *common, "--out", str(tmp_path / "idle"), "--distill-weight", "1"])
    assert idle.exit_code == 2 and "--finetune-steps" in idle.output
    ok = CliRunner().invoke(app, ["compress", *common, "--out", str(tmp_path / "ok"), "--finetune-steps", "2",
                                  "--distill-weight", "1"])
    assert ok.exit_code == 0, ok.output
    prov = read_artifact(tmp_path / "ok" / "generator.safetensors", with_hash=False).provenance
    assert prov["distill_weight"] == 1.0
    assert json.loads((tmp_path / "ok" / "config.json").read_text())["distill_weight"] == 1.0
