"""Bounded JSON reader and regular-file rule: pathological inputs give exit-3 errors naming the file, never hang.

Property tests report how many cases they tried with `pytest -s` (hypothesis statistics) and in
the counter each test keeps.
"""
from __future__ import annotations

import json
import math
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ganctl.errors import InputFileError
from ganctl.io.safeio import MAX_JSON_DEPTH, check_regular, json_depth, parse_json, read_bytes, read_json

from ._hardening import no_hang
from ._support import report_line

PROPS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
CASES: dict[str, int] = {}


def _count(name: str) -> None:
    CASES[name] = CASES.get(name, 0) + 1


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=30,
)


def _depth(obj: object) -> int:
    """Nesting depth by walking the parsed value (independent of the text scanner)."""
    if isinstance(obj, dict):
        return 1 + max((_depth(v) for v in obj.values()), default=0)
    if isinstance(obj, list):
        return 1 + max((_depth(v) for v in obj), default=0)
    return 0


@PROPS
@given(value=json_values)
def test_valid_json_round_trips_and_depth_agrees(value):
    _count("valid_json")
    text = json.dumps(value)
    assert json_depth(text) == _depth(value)
    assert parse_json(text, "x.json") == json.loads(text)


@PROPS
@given(depth=st.integers(1, 200_000), opener=st.sampled_from(["[", '{"a":']))
def test_deep_nesting_is_refused_without_recursion_error(depth, opener):
    _count("deep_nesting")
    closer = "]" if opener == "[" else "}"
    text = opener * depth + "1" + closer * depth
    if depth <= MAX_JSON_DEPTH:
        assert _depth(parse_json(text, "deep.json")) == depth
    else:
        with pytest.raises(InputFileError, match=r"deep\.json: .*nests"):
            parse_json(text, "deep.json")


@PROPS
@given(data=st.binary(max_size=300))
def test_arbitrary_bytes_give_input_file_error_or_a_value(tmp_path, data):
    _count("arbitrary_bytes")
    path = tmp_path / "junk.json"
    path.write_bytes(data)
    try:
        read_json(path)
    except InputFileError as e:
        assert str(path) in str(e)


@PROPS
@given(const=st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-1e400"]),
       wrap=st.sampled_from(["{}", "[{}]", '{"lr": {}}']))
def test_non_finite_numbers_are_refused(tmp_path, const, wrap):
    _count("non_finite")
    path = tmp_path / "nan.json"
    path.write_text(wrap.replace("{}", const))
    assert not math.isfinite(float(const.replace("Infinity", "inf").replace("NaN", "nan")))
    with pytest.raises(InputFileError, match="nan.json"):
        read_json(path)


def test_special_files_are_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)  # no writer: a plain open() would block forever
    folder = tmp_path / "dir.json"
    folder.mkdir()
    with no_hang(10):
        for path, kind in ((fifo, "FIFO"), (folder, "folder"), ("/dev/zero", "character device")):
            with pytest.raises(InputFileError, match=kind):
                read_json(path)
            with pytest.raises(InputFileError, match=kind):
                check_regular(path)


def test_size_cap(tmp_path):
    path = tmp_path / "big.json"
    path.write_bytes(b" " * 2000 + b"1")
    assert read_bytes(path, max_bytes=4096) == b" " * 2000 + b"1"
    with pytest.raises(InputFileError, match="more than the 1,000"):
        read_bytes(path, max_bytes=1000)


def test_every_loader_refuses_a_fifo(tmp_path):
    """Genotype, plan, artifact, checkpoint, config.json on resume, info: all go through the bounded reader."""
    from ganctl.compress.ranks import load_plan_file
    from ganctl.genotype import load_genotype
    from ganctl.inspect import describe
    from ganctl.io.checkpoint import load_checkpoint
    from ganctl.io.rundir import RunDir
    from ganctl.models.artifact import load_generator

    run = tmp_path / "run"
    run.mkdir()
    os.mkfifo(run / "config.json")
    loaders = [
        (lambda p: load_genotype(p), "g.json"),
        (lambda p: load_plan_file(p, {}, "cp"), "plan.json"),
        (lambda p: load_generator(p), "g.safetensors"),
        (lambda p: load_checkpoint(p), "checkpoint.pt"),
        (lambda p: describe(p), "x.json"),
    ]
    with no_hang(20):
        for load, name in loaders:
            fifo = tmp_path / name
            os.mkfifo(fifo)
            with pytest.raises(InputFileError, match=name):
                load(fifo)
        with pytest.raises(InputFileError, match="config.json"):
            RunDir.load_config(run)
        with pytest.raises(InputFileError, match="config.json"):
            describe(run)


def test_report_case_counts(pytestconfig):
    """Runs last in this file: how many cases each property tried (the issue asks for the counts)."""
    report_line(pytestconfig, f"bounded-input property cases: {CASES}")
    assert all(n > 0 for n in CASES.values())
