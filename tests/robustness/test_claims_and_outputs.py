"""Run-folder claims never delete what ganctl did not create; one lock per --out; umask; image decoding."""
from __future__ import annotations

import os
import string

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from ganctl.errors import RunDirError
from ganctl.io.atomic import atomic_write_bytes, atomic_write_json
from ganctl.io.rundir import LOCK, MANIFEST, RunDir, lock_folder

from ._hardening import tree_hashes
from ._support import report_line

PROPS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
CASES: dict[str, int] = {}


def _count(name: str) -> None:
    CASES[name] = CASES.get(name, 0) + 1


names = st.text(string.ascii_letters + string.digits + "_-.", min_size=1, max_size=12).filter(
    lambda n: n not in (".", "..") and not n.startswith(".ganctl"))
user_trees = st.dictionaries(st.lists(names, min_size=1, max_size=3).map("/".join), st.binary(max_size=64),
                             max_size=6)


def _plant(root, tree) -> dict:
    planted = {}
    for rel, data in tree.items():
        path = root / rel
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.is_dir():
                continue
            path.write_bytes(data)
            planted[rel] = data
        except (FileExistsError, NotADirectoryError, IsADirectoryError):
            continue  # a generated name that clashes with a folder/file already planted
    return planted


def _ganctl_run(root, n_files=3):
    with RunDir.open(root, {"command": "test"}) as run:
        for i in range(n_files):
            atomic_write_bytes(run.path(f"samples/step-{i}.png") if i % 2 else run.path(f"out{i}.bin"), b"x" * i)
        run.log({"step": 1})
        run.finish({})


@PROPS
@given(tree=user_trees)
def test_force_removes_only_ganctl_files(tmp_path_factory, tree):
    _count("force_keeps_user_files")
    root = tmp_path_factory.mktemp("run")
    _ganctl_run(root)
    planted = _plant(root, {k: v for k, v in tree.items() if not k.startswith(("samples", "out", "config",
                                                                                  "stats", "status"))})
    user_before = {k: v for k, v in tree_hashes(root).items() if k in planted}
    with RunDir.open(root, {"command": "again"}, force=True) as run:
        assert run.path("config.json").is_file()
    after = tree_hashes(root)
    assert {k: after.get(k) for k in user_before} == user_before  # byte-identical user files
    assert not (root / "status.json").exists() and not (root / "stats.jsonl").exists()
    assert not (root / "out0.bin").exists() and not (root / "samples" / "step-1.png").exists()


@PROPS
@given(tree=user_trees.filter(bool))
def test_force_refuses_a_folder_that_is_not_a_run(tmp_path_factory, tree):
    _count("force_refuses_foreign")
    root = tmp_path_factory.mktemp("user")
    if not _plant(root, tree):
        return
    before = tree_hashes(root)
    with pytest.raises(RunDirError, match="not a ganctl run"):
        RunDir.open(root, {"command": "x"}, force=True)
    assert {k: v for k, v in tree_hashes(root).items() if k != LOCK} == before


def test_failed_start_is_reusable_without_force(tmp_path):
    with RunDir.open(tmp_path, {"command": "first", "width": 10**9}):
        pass  # the command failed validation before any work: only config.json was written
    with RunDir.open(tmp_path, {"command": "second"}) as run:
        assert "second" in run.path("config.json").read_text()
    with RunDir.open(tmp_path, {"command": "third"}, force=False) as run:  # still no work: reusable
        run.log({"step": 1})
    with pytest.raises(RunDirError, match="unfinished run"):
        RunDir.open(tmp_path, {"command": "fourth"})


def test_legacy_run_without_manifest_keeps_unknown_files(tmp_path):
    _ganctl_run(tmp_path)
    (tmp_path / MANIFEST).unlink()  # a run folder from before manifests
    (tmp_path / "notes.txt").write_text("mine")
    with RunDir.open(tmp_path, {"command": "again"}, force=True):
        pass
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert not (tmp_path / "stats.jsonl").exists()


def test_force_never_follows_a_symlink_out_of_the_folder(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.bin").write_bytes(b"keep")
    run = tmp_path / "run"
    _ganctl_run(run)
    (run / "link").symlink_to(outside, target_is_directory=True)
    with open(run / MANIFEST, "a") as f:  # a tampered manifest naming a file through the link
        f.write("link/precious.bin\n../outside/precious.bin\n" + str(outside / "precious.bin") + "\n")
    with RunDir.open(run, {"command": "again"}, force=True):
        pass
    assert (outside / "precious.bin").read_bytes() == b"keep"


def test_one_lock_per_folder(tmp_path):
    held = lock_folder(tmp_path)
    try:
        with pytest.raises(RunDirError, match="another ganctl process"):
            lock_folder(tmp_path)
        with pytest.raises(RunDirError, match="another ganctl process"):
            RunDir.open(tmp_path, {"command": "x"})
    finally:
        held.close()
    lock_folder(tmp_path).close()


@PROPS
@given(mask=st.integers(0, 0o777))
def test_atomic_writes_honour_the_umask(tmp_path_factory, mask):
    _count("umask")
    root = tmp_path_factory.mktemp("mask")
    old = os.umask(mask)
    try:
        atomic_write_json(root / "a.json", {"x": 1})
        with open(root / "plain.txt", "w") as f:  # what a plain open gives: the reference
            f.write("x")
    finally:
        os.umask(old)
    assert (root / "a.json").stat().st_mode & 0o777 == (root / "plain.txt").stat().st_mode & 0o777 == 0o666 & ~mask


@PROPS
@given(pixels=st.lists(st.integers(0, 65535), min_size=16, max_size=16))
def test_16_bit_png_decodes_to_the_full_8_bit_range(tmp_path_factory, pixels):
    from ganctl.data.folder import decode_image_file

    _count("png16")
    root = tmp_path_factory.mktemp("img")
    array = np.array(pixels, dtype=np.uint16).reshape(4, 4)
    Image.fromarray(array).save(root / "g16.png")
    assert Image.open(root / "g16.png").mode.startswith("I")
    decoded = decode_image_file(root / "g16.png", 4)
    expected = np.rint(array.astype(np.float64) * 255.0 / 65535.0).astype(np.uint8)  # float64 reference
    for c in range(3):
        assert np.array_equal(decoded[c].numpy(), expected)


@PROPS
@given(grey=st.lists(st.integers(0, 255), min_size=16, max_size=16), alpha=st.integers(0, 255))
def test_la_and_palette_images_keep_their_colours(tmp_path_factory, grey, alpha):
    from ganctl.data.folder import decode_image_file

    _count("la_palette")
    root = tmp_path_factory.mktemp("la")
    g = np.array(grey, dtype=np.uint8).reshape(4, 4)
    Image.fromarray(np.dstack([g, np.full_like(g, alpha)]), mode="LA").save(root / "la.png")
    decoded = decode_image_file(root / "la.png", 4)
    assert all(np.array_equal(decoded[c].numpy(), g) for c in range(3))  # alpha dropped, grey kept
    palette = Image.fromarray(g, mode="L").convert("P")
    palette.save(root / "p.png")
    decoded = decode_image_file(root / "p.png", 4)
    lut = np.array(palette.getpalette()[: 3 * 256], dtype=np.uint8).reshape(-1, 3)
    idx = np.asarray(palette)
    assert all(np.array_equal(decoded[c].numpy(), lut[idx][..., c]) for c in range(3))


def test_report_case_counts(pytestconfig):
    report_line(pytestconfig, f"claims/outputs property cases: {CASES}")
    assert all(n > 0 for n in CASES.values())
