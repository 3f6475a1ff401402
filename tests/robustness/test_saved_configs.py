"""Damaged config.json / checkpoints on --resume: a clean exit-3 error naming the file, never a crash (property)."""
from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ganctl.compress.stage import CompressConfig
from ganctl.errors import GanctlError, InputFileError
from ganctl.io.atomic import atomic_write_json
from ganctl.io.checkpoint import load_checkpoint, restoring, save_checkpoint
from ganctl.io.configfile import load_saved_config
from ganctl.search.config import SearchConfig
from ganctl.search.config import validate as validate_search
from ganctl.train.config import TrainConfig, resolve_config
from ganctl.train.config import validate as validate_train

from ._support import report_line

PROPS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
CASES: dict[str, int] = {}
junk = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False),
                 st.text(max_size=5), st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3),
                                                                                            st.integers(), max_size=2))
KINDS = {
    "train": (TrainConfig, validate_train, lambda: resolve_config("tiny", {"out": "x"}).to_dict()),
    "search": (SearchConfig, validate_search, lambda: SearchConfig(out="x").to_dict()),
    "compress": (CompressConfig, None, lambda: dataclasses.asdict(CompressConfig(artifact="a", out="x"))),
}


@PROPS
@given(kind=st.sampled_from(sorted(KINDS)), data=st.data())
def test_mutated_saved_config_is_valid_or_exit_3(tmp_path_factory, kind, data):
    CASES[kind] = CASES.get(kind, 0) + 1
    cls, validate, fresh = KINDS[kind]
    cfg = json.loads(json.dumps(fresh()))
    key = data.draw(st.sampled_from(sorted(cfg)))
    action = data.draw(st.sampled_from(["drop", "junk", "extra"]))
    if action == "drop":
        cfg.pop(key)
    elif action == "junk":
        cfg[key] = data.draw(junk)
    else:
        cfg["zz_" + key] = 1
    out = tmp_path_factory.mktemp("run")
    atomic_write_json(out / "config.json", cfg)
    try:
        saved = load_saved_config(out, cls, validate)
    except InputFileError as e:
        assert str(out / "config.json") in str(e)
        return
    assert action == "junk"  # only a value of the right type and range may pass
    if validate is not None:
        validate(cls.from_dict(saved))


@PROPS
@given(state=st.dictionaries(st.sampled_from(["G", "D", "step", "rng", "data", "x"]), junk, max_size=5))
def test_checkpoint_that_does_not_fit_is_exit_3(tmp_path_factory, state):
    """Whatever a train-kind checkpoint holds, restoring it into a module fails only with a GanctlError."""
    CASES["checkpoint"] = CASES.get("checkpoint", 0) + 1
    path = tmp_path_factory.mktemp("ck") / "checkpoint.pt"
    save_checkpoint(path, {"kind": "train", **state})
    loaded = load_checkpoint(path, "train")
    module = torch.nn.Linear(2, 2)
    try:
        with restoring(path):
            module.load_state_dict(loaded["G"])
            int(loaded["step"])
    except GanctlError as e:
        assert isinstance(e, InputFileError) and str(path) in str(e)


def test_report_case_counts(pytestconfig):
    report_line(pytestconfig, f"saved-config/checkpoint property cases: {CASES}")
    assert all(n > 0 for n in CASES.values())


@pytest.mark.parametrize("text", ["[]", '"x"', "{", "\ufeff{}", "{\"a\": NaN}"])
def test_config_json_not_an_object(tmp_path, text):
    (tmp_path / "config.json").write_text(text)
    with pytest.raises(InputFileError, match="config.json"):
        load_saved_config(tmp_path, TrainConfig, validate_train)
