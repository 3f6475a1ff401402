"""The CLI surface: every command has help with a worked example; errors are one line with an exit code."""
import json

import pytest
from typer.testing import CliRunner

from ganctl.cli.app import app

COMMANDS = ["search", "train", "compress", "evaluate", "sample", "info"]
runner = CliRunner()


@pytest.mark.parametrize("cmd", COMMANDS)
def test_help_has_example(cmd):
    res = runner.invoke(app, [cmd, "--help"], terminal_width=200)
    assert res.exit_code == 0, res.output
    assert "Example" in res.output and f"ganctl {cmd}" in res.output
    if cmd != "info":
        for opt in ("--device", "--seed", "--quiet", "--verbose", "--json"):
            assert opt in res.output, f"{cmd} lacks {opt}"


def test_version():
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output.startswith("ganctl ")


def test_info_missing_file_one_line():
    res = runner.invoke(app, ["info", "/nonexistent/g.safetensors"])
    assert res.exit_code == 3
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert lines == ["error: /nonexistent/g.safetensors: no such file or folder"]
    assert "Traceback" not in res.output


def test_info_json_on_checkpoint(tmp_path):
    import torch

    from ganctl.io.checkpoint import save_checkpoint

    save_checkpoint(tmp_path / "c.pt", {"kind": "train", "step": 4, "w": torch.zeros(1)})
    res = runner.invoke(app, ["info", str(tmp_path / "c.pt"), "--json"])
    assert res.exit_code == 0, res.output
    last = json.loads(res.output.strip().splitlines()[-1])
    assert last["ok"] and last["items"][0]["step"] == 4 and last["items"][0]["kind"] == "train checkpoint"
