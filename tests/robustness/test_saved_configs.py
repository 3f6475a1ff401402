"""Damaged config.json / checkpoints on --resume: a clean exit-3 error naming the file, never a crash (property)."""
from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ganctl.compress.stage import ADDED_SINCE_FIRST, CompressConfig
from ganctl.compress.stage import load_saved as load_saved_compress
from ganctl.errors import GanctlError, InputFileError
from ganctl.io.atomic import atomic_write_json
from ganctl.io.checkpoint import load_checkpoint, restoring, save_checkpoint
from ganctl.io.configfile import load_saved_config
from ganctl.search.config import SearchConfig
from ganctl.search.config import load_saved as load_saved_search
from ganctl.train.config import ADDED_GENERATIONS, TrainConfig, resolve_config
from ganctl.train.config import load_saved as load_saved_train
from ganctl.train.config import validate as validate_train

from ._support import report_line

PROPS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
CASES: dict[str, int] = {}
junk = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False),
                 st.text(max_size=5), st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3),
                                                                                            st.integers(), max_size=2))
# each stage's own resume loader (the code a resume runs), and a fresh config of that stage
KINDS = {
    "train": (load_saved_train, lambda: resolve_config("tiny", {"out": "x"}).to_dict()),
    "search": (load_saved_search, lambda: SearchConfig(out="x").to_dict()),
    "compress": (load_saved_compress, lambda: dataclasses.asdict(CompressConfig(artifact="a", out="x"))),
}
# a dropped key that is a whole generation of fields, the newest, reads as an older file, rightly
OLDER_FILE_KEYS = {"compress": set(ADDED_SINCE_FIRST[-1]), "train": set(ADDED_GENERATIONS[-1])}


@PROPS
@given(kind=st.sampled_from(sorted(KINDS)), data=st.data())
def test_mutated_saved_config_is_valid_or_exit_3(tmp_path_factory, kind, data):
    CASES[kind] = CASES.get(kind, 0) + 1
    load, fresh = KINDS[kind]
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
        saved = load(str(out))
    except InputFileError as e:
        assert str(out / "config.json") in str(e)
        return
    # only a value of the right type and range may pass, or a file that reads as an older one
    assert action == "junk" or (action == "drop" and key in OLDER_FILE_KEYS.get(kind, set())), (action, key)
    assert set(saved) == set(fresh())


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


def _compress_config(tmp_path, drop):
    cfg = dataclasses.asdict(CompressConfig(artifact="a", out="x", penalty=0.3))
    for key in drop:
        cfg.pop(key)
    atomic_write_json(tmp_path / "config.json", cfg)
    return str(tmp_path)


@pytest.mark.parametrize("generations", [1, 2])
def test_compress_config_from_an_older_ganctl_resumes_with_its_behaviour(tmp_path, generations):
    """A compress config.json written before the last `generations` generations of fields loads with the values
    that ganctl ran with (no distillation; checkpoints every 200 steps)."""
    missing = [k for g in ADDED_SINCE_FIRST[-generations:] for k in g]
    saved = load_saved_compress(_compress_config(tmp_path, missing))
    assert saved["distill_weight"] == 0.0 and saved["penalty"] == 0.3
    assert saved["checkpoint_every"] == 200


@pytest.mark.parametrize("drop", [["checkpoint_every"], ["penalty"], ["rank", "distill_weight"]])
def test_compress_config_missing_a_field_on_its_own_is_damaged(tmp_path, drop):
    """Before, compress filled any missing field with its default: a damaged file resumed silently."""
    with pytest.raises(InputFileError, match=f"config.json.*lacks {drop[0]}|lacks {drop[0]}.*config.json"):
        load_saved_compress(_compress_config(tmp_path, drop))


def test_compress_config_with_legacy_keys_is_upgraded(tmp_path):
    """The compress config of the first release: `lr`, `b_u`, `extractor`, no checkpoints, no distillation."""
    cfg = dataclasses.asdict(CompressConfig(artifact="a", out="x", lr_g=3e-4, lr_d=3e-4, bound_upper=8.0))
    for key in ("lr_g", "lr_d", "bound_upper", "bound_lower", "eval_extractor", "mmd_modified_weight", "precision",
                "checkpoint_every", "distill_weight"):
        cfg.pop(key)
    cfg.update(lr=3e-4, b_u=8.0, extractor="randconv")
    atomic_write_json(tmp_path / "config.json", cfg)
    saved = load_saved_compress(str(tmp_path))
    upgraded = (saved["lr_g"], saved["lr_d"], saved["bound_upper"], saved["eval_extractor"])
    assert upgraded == (3e-4, 3e-4, 8.0, "randconv")
    assert saved["distill_weight"] == 0.0
    assert set(saved) == set(dataclasses.asdict(CompressConfig(artifact="a", out="x")))
