"""Spec size bounds before allocation, and the finiteness check for loaded weights (property tests)."""
from __future__ import annotations

import json
import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from ganctl import models
from ganctl.errors import InputFileError, UsageError
from ganctl.io.checkpoint import load_checkpoint, save_checkpoint
from ganctl.models import limits
from ganctl.models.artifact import load_generator

from ._hardening import write_tiny_artifact
from ._support import report_line

PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
CASES: dict[str, int] = {}


def _count(name: str) -> None:
    CASES[name] = CASES.get(name, 0) + 1


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    return write_tiny_artifact(tmp_path_factory.mktemp("art") / "g.safetensors")


def _with_spec(src, dst, **changes):
    with safe_open(str(src), "pt") as f:
        meta = f.metadata()
    spec = json.loads(meta["spec"])
    spec.update(changes)
    meta["spec"] = json.dumps(spec)
    save_file(load_file(str(src)), str(dst), metadata=meta)
    return dst


@PROPS
@given(width=st.integers(1, 10**12), latent=st.sampled_from([6, 12, 3 * 10**6]))
def test_spec_sizes_checked_against_tensors_before_allocation(tmp_path, tiny_file, monkeypatch, width, latent):
    """Any width/latent other than the stored one is refused, and the real builder never sees it off `meta`."""
    _count("spec_sizes")
    real_build = models.build_generator
    built_for_real: list[int] = []

    def spy(spec):
        if torch.empty(0).device.type != "meta":
            built_for_real.append(spec["width"])
        return real_build(spec)

    monkeypatch.setattr(models, "build_generator", spy)
    path = _with_spec(tiny_file, tmp_path / "w.safetensors", width=width, latent_dim=latent)
    if (width, latent) == (4, 6):
        G, _ = load_generator(path)
        assert G.width == 4
        return
    with pytest.raises(InputFileError, match="w.safetensors"):
        load_generator(path)
    assert built_for_real == []  # refused from the meta-device shapes: nothing was allocated


@PROPS
@given(name=st.sampled_from(sorted(limits.FLAG_BOUNDS)), value=st.integers(-(2**70), 2**70))
def test_flag_bounds(name, value):
    """In-range sizes pass, the rest are usage errors naming the flag (bounds from the table)."""
    _count("flag_bounds")
    lo, hi = limits.FLAG_BOUNDS[name]
    if lo <= value <= hi:
        limits.check_sizes({name: value})
    else:
        with pytest.raises(UsageError, match=limits.flag(name)):
            limits.check_sizes({name: value})


@PROPS
@given(seed=st.integers(-(2**70), 2**70), beta=st.floats(allow_nan=True, allow_infinity=True))
def test_seed_and_beta_ranges(seed, beta):
    _count("seed_beta")
    if 0 <= seed < 2**63:
        limits.check_seed(seed)
        torch.Generator().manual_seed(seed)  # the range torch accepts
    else:
        with pytest.raises(UsageError, match="--seed"):
            limits.check_seed(seed)
    if 0.0 <= beta < 1.0:
        limits.check_betas(beta, 0.9)
    else:
        with pytest.raises(UsageError, match="--beta1"):
            limits.check_betas(beta, 0.9)


def test_spec_budget_counts_like_a_real_build():
    """The meta-device count equals the parameters of a real module (an independent count)."""
    from ganctl.genotype import load_genotype

    spec = models.generator_spec(load_genotype("tiny"), resolution=32, width=8, latent_dim=12)
    real = sum(t.numel() for t in models.build_generator(spec).state_dict().values())
    assert limits.check_param_budget("generator", spec) == real
    huge = {**spec, "width": 4096, "latent_dim": 4095}
    from ganctl.errors import SpecError

    with pytest.raises(SpecError, match="more than the 1,000,000,000"):
        limits.check_param_budget("generator", huge)


@PROPS
@given(value=st.sampled_from([math.nan, math.inf, -math.inf]), which=st.integers(0, 10**6), pos=st.integers(0, 10**6))
def test_nonfinite_weights_are_refused(tmp_path, tiny_file, value, which, pos):
    _count("nonfinite_weights")
    state = load_file(str(tiny_file))
    floats = sorted(k for k, t in state.items() if t.is_floating_point() and t.numel())
    key = floats[which % len(floats)]
    flat = state[key].flatten().clone()
    flat[pos % flat.numel()] = value
    state[key] = flat.view_as(state[key])
    with safe_open(str(tiny_file), "pt") as f:
        meta = f.metadata()
    path = tmp_path / "nan.safetensors"
    save_file(state, str(path), metadata=meta)
    with pytest.raises(InputFileError, match=r"nan\.safetensors: .*NaN/Inf"):
        load_generator(path)
    ck = tmp_path / "checkpoint.pt"
    save_checkpoint(ck, {"kind": "train", "step": 1, "G": state})
    with pytest.raises(InputFileError, match=r"checkpoint\.pt: .*NaN/Inf"):
        load_checkpoint(ck, "train")
    from ganctl.inspect import describe

    assert describe(path)["weights_finite"] is False  # info reports rather than refuses
    assert describe(ck)["weights_finite"] is False
    assert describe(tiny_file)["weights_finite"] is True


def test_report_case_counts(pytestconfig):
    report_line(pytestconfig, f"spec/weights property cases: {CASES}")
    assert all(n > 0 for n in CASES.values())
