"""Every subcommand through a table of bad inputs: the exact exit code, the file named, nothing on disk changed.

"internal error" (70) must never appear: each row is a user mistake with its documented code
(2 usage, 3 bad file, 5 spec, 6 run folder). Rows run in-process (Typer's CliRunner) so the
whole table takes seconds; the closed-pipe case needs a real pipe and runs as a subprocess.
"""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from ganctl.cli.app import app
from ganctl.io.atomic import atomic_write_json
from ganctl.io.checkpoint import save_checkpoint
from ganctl.io.rundir import lock_folder

from ._hardening import no_hang, tree_hashes, write_tiny_artifact
from ._support import ROOT, cli_env

runner = CliRunner()


def _respec(src, dst, **changes):
    with safe_open(str(src), "pt") as f:
        meta = f.metadata()
    meta["spec"] = json.dumps({**json.loads(meta["spec"]), **changes})
    save_file(load_file(str(src)), str(dst), metadata=meta)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One folder of good and bad inputs shared by every row (rows must not change it)."""
    w = tmp_path_factory.mktemp("world")
    good = write_tiny_artifact(w / "g.safetensors")
    state = load_file(str(good))
    key = next(k for k, t in state.items() if t.is_floating_point())
    state[key] = state[key].clone().fill_(float("nan"))
    with safe_open(str(good), "pt") as f:
        meta = f.metadata()
    save_file(state, str(w / "nan.safetensors"), metadata=meta)
    _respec(good, w / "huge.safetensors", width=3_000_000)
    os.mkfifo(w / "pipe.json")
    os.mkfifo(w / "pipe.safetensors")
    (w / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (w / "nanconst.json").write_text('{"format": "ganctl.genotype", "version": NaN}')
    (w / "userdir").mkdir()
    (w / "userdir" / "notes.txt").write_text("my notes")
    np_bytes = b"PK\x03\x04 not really"
    (w / "user.npz").write_bytes(np_bytes)
    (w / "user.png").write_bytes(b"\x89PNG\r\n\x1a\n user bytes")
    # run folders for --resume and info
    from ganctl.compress.stage import CompressConfig
    from ganctl.train.config import resolve_config

    cfg = resolve_config("tiny", {"out": str(w / "badckpt"), "steps": 2, "eval_every": 0, "device": "cpu"})
    for name, mutate in (("badtype", {"width": "abc"}), ("missingkey", None), ("badckpt", {})):
        (w / name).mkdir()
        d = cfg.to_dict()
        if mutate is None:
            d.pop("width")
        else:
            d.update(mutate)
        d["out"] = str(w / name)
        atomic_write_json(w / name / "config.json", d)
    save_checkpoint(w / "badckpt" / "checkpoint.pt", {"kind": "train", "step": 1, "G": {"x": torch.zeros(2)}})
    (w / "deepcfg").mkdir()
    (w / "deepcfg" / "config.json").write_text("{\"a\":" * 5000 + "1" + "}" * 5000)
    (w / "damaged").mkdir()
    (w / "damaged" / "config.json").write_text("{")
    (w / "fifostatus").mkdir()
    (w / "fifostatus" / "config.json").write_text('{"command": "train"}')
    os.mkfifo(w / "fifostatus" / "status.json")
    (w / "cmp").mkdir()
    atomic_write_json(w / "cmp" / "config.json", dataclasses.asdict(
        CompressConfig(artifact=str(good), out=str(w / "cmp"), rank="2", device="cpu")))
    (w / "locked").mkdir()
    from ganctl.io.rundir import RunDir

    with RunDir.open(w / "parentrun", {"command": "train"}) as run:  # a finished ganctl run holding the input
        write_tiny_artifact(run.path("generator.safetensors"))
        run.finish({})
    return w


G, NAN, HUGE = "g.safetensors", "nan.safetensors", "huge.safetensors"
CPU = ["--device", "cpu", "--quiet"]
TINY = ["train", "--preset", "tiny", "--data", "shapes", "--steps", "2", *CPU]

# (id, args with {w} for the world folder, exit code, text that must appear in the error line)
TABLE = [
    ("info-fifo", ["info", "{w}/pipe.json"], 3, "pipe.json"),
    ("info-deep", ["info", "{w}/deep.json"], 3, "deep.json"),
    ("info-nanconst", ["info", "{w}/nanconst.json"], 3, "nanconst.json"),
    ("info-damaged-config", ["info", "{w}/damaged"], 3, "damaged/config.json"),
    ("info-fifo-status", ["info", "{w}/fifostatus"], 3, "status.json"),
    ("info-fifo-artifact", ["info", "{w}/pipe.safetensors"], 3, "pipe.safetensors"),
    ("sample-nan", ["sample", "{w}/" + NAN, "--num", "2", "--grid", "{w}/new.png", *CPU], 3, NAN),
    ("sample-huge", ["sample", "{w}/" + HUGE, "--num", "2", "--grid", "{w}/new.png", *CPU], 3, HUGE),
    ("sample-fifo", ["sample", "{w}/pipe.safetensors", "--num", "2", "--grid", "{w}/new.png", *CPU], 3,
     "pipe.safetensors"),
    ("sample-npz-user", ["sample", "{w}/" + G, "--num", "2", "--npz", "{w}/user.npz", *CPU], 6, "user.npz"),
    ("sample-grid-user", ["sample", "{w}/" + G, "--num", "2", "--grid", "{w}/user.png", *CPU], 6, "user.png"),
    ("sample-num", ["sample", "{w}/" + G, "--num", "1000000000", "--grid", "{w}/new.png", *CPU], 2, "--num"),
    ("sample-seed", ["sample", "{w}/" + G, "--seed", "-3", "--grid", "{w}/new.png", *CPU], 2, "--seed"),
    ("evaluate-nan", ["evaluate", "{w}/" + NAN, "--data", "shapes", "--extractor", "randconv", "--out",
                      "{w}/ev", *CPU], 3, NAN),
    ("evaluate-huge", ["evaluate", "{w}/" + HUGE, "--data", "shapes", "--out", "{w}/ev", *CPU], 3, HUGE),
    ("evaluate-locked", ["evaluate", "{w}/" + G, "--data", "shapes", "--extractor", "randconv", "--num-samples",
                         "8", "--num-reference", "8", "--no-cost", "--out", "{w}/locked", *CPU], 6, "locked"),
    ("evaluate-seeds", ["evaluate", "{w}/" + G, "--seeds", "100000", "--out", "{w}/ev", *CPU], 2, "--seeds"),
    ("train-genotype-deep", [*TINY, "--genotype", "{w}/deep.json", "--out", "{w}/t1"], 3, "deep.json"),
    ("train-genotype-fifo", [*TINY, "--genotype", "{w}/pipe.json", "--out", "{w}/t1"], 3, "pipe.json"),
    ("train-genotype-nan", [*TINY, "--genotype", "{w}/nanconst.json", "--out", "{w}/t1"], 3, "nanconst.json"),
    ("train-width", [*TINY, "--width", "100000", "--out", "{w}/t1"], 2, "--width"),
    ("train-beta", [*TINY, "--beta2", "1.5", "--out", "{w}/t1"], 2, "--beta2"),
    ("train-lr-nan", [*TINY, "--lr-g", "nan", "--out", "{w}/t1"], 2, "--lr-g"),
    ("train-seed", [*TINY, "--seed", str(2**64), "--out", "{w}/t1"], 2, "--seed"),
    ("train-data-missing", [*TINY, "--data", "folder:{w}/no-such-folder", "--out", "{w}/t2"], 4, "no-such-folder"),
    ("train-data-fifo", [*TINY, "--data", "npz:{w}/pipe.json", "--out", "{w}/t2"], 4, "pipe.json"),
    ("search-data-missing", ["search", "--preset", "tiny", "--data", "folder:{w}/nope", "--out", "{w}/s2", *CPU], 4,
     "nope"),
    ("train-force-userdir", [*TINY, "--force", "--out", "{w}/userdir"], 6, "userdir"),
    ("train-resume-badtype", ["train", "--resume", "{w}/badtype", *CPU], 3, "badtype/config.json"),
    ("train-resume-missingkey", ["train", "--resume", "{w}/missingkey", *CPU], 3, "missingkey/config.json"),
    ("train-resume-deepcfg", ["train", "--resume", "{w}/deepcfg", *CPU], 3, "deepcfg/config.json"),
    ("train-resume-badckpt", ["train", "--resume", "{w}/badckpt", *CPU], 3, "badckpt/checkpoint.pt"),
    ("search-width", ["search", "--preset", "tiny", "--width-g", "1000000", "--out", "{w}/s1", *CPU], 2,
     "--width-g"),
    ("search-force-userdir", ["search", "--preset", "tiny", "--force", "--out", "{w}/userdir", *CPU], 6, "userdir"),
    ("search-seed", ["search", "--preset", "tiny", "--seed", "-1", "--out", "{w}/s1", *CPU], 2, "--seed"),
    ("compress-nan", ["compress", "{w}/" + NAN, "--rank", "2", "--out", "{w}/c1", *CPU], 3, NAN),
    ("compress-huge", ["compress", "{w}/" + HUGE, "--rank", "2", "--out", "{w}/c1", *CPU], 3, HUGE),
    ("compress-plan-fifo", ["compress", "{w}/" + G, "--rank", "{w}/pipe.json", "--out", "{w}/c1", *CPU], 3,
     "pipe.json"),
    ("compress-plan-deep", ["compress", "{w}/" + G, "--rank", "{w}/deep.json", "--out", "{w}/c1", *CPU], 3,
     "deep.json"),
    ("compress-penalty-nan", ["compress", "{w}/" + G, "--penalty", "nan", "--out", "{w}/c1", *CPU], 2,
     "--penalty"),
    ("compress-force-userdir", ["compress", "{w}/" + G, "--rank", "2", "--force", "--out", "{w}/userdir", *CPU],
     6, "userdir"),
    ("compress-force-own-parent", ["compress", "{w}/parentrun/generator.safetensors", "--rank", "2", "--force", "--out",
                                   "{w}/parentrun", *CPU], 6, "generator.safetensors"),
    ("compress-resume-changed", ["compress", "{w}/" + G, "--rank", "3", "--resume", "--out", "{w}/cmp", *CPU], 2,
     "rank"),
]


@pytest.mark.parametrize("row", TABLE, ids=[r[0] for r in TABLE])
def test_bad_input_table(world, row):
    _, args, code, named = row
    argv = [a.replace("{w}", str(world)) for a in args]
    before = tree_hashes(world)
    lock = lock_folder(world / "locked") if str(world / "locked") in argv else None
    try:
        with no_hang(60):
            res = runner.invoke(app, argv, terminal_width=300)
    finally:
        if lock is not None:
            lock.close()
    err = res.stderr + res.output
    if code != 6:  # failed before the claim: no run folder was created
        assert not any((world / d).exists() for d in ("t1", "t2", "s1", "s2", "c1")), err
    assert res.exit_code == code, err[-800:]
    assert "internal error" not in err and "Traceback" not in err
    assert named in err, err[-800:]
    after = tree_hashes(world)
    assert {k: after.get(k) for k in before} == before  # nothing already on disk changed


def test_closed_pipe_is_a_quiet_exit(world):
    """`ganctl info ... | head -c1`: the reader leaves; ganctl stops quietly (exit 0), not 'internal error'."""
    proc = subprocess.Popen([sys.executable, "-m", "ganctl", "info", str(world / G), str(world / G)],
                            cwd=ROOT, env=cli_env(world / "cache"), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.read(1)
    proc.stdout.close()  # the pipe's reader is gone
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0, err
    assert "error" not in err.lower(), err


def test_out_of_memory_is_exit_9():
    from ganctl.cli.common import Globals, out_of_memory_message, run

    for exc in (MemoryError(), RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: not enough "
                                            "memory: you tried to allocate 160000000000 bytes."),
                torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")):
        assert out_of_memory_message(exc) is not None

        def body(exc=exc):
            raise exc

        import typer

        with pytest.raises(typer.Exit) as e:
            run(Globals(quiet=True), body)
        assert e.value.exit_code == 9
    assert out_of_memory_message(RuntimeError("shape mismatch")) is None
