"""Fuzzing of compress's rank plans: PLAN.json (`--rank PLAN.json`) and the artifact's decomposition replay.

Random corruptions must end in a clean `GanctlError` (one line, exit code) — never a traceback or a hang.
A corruption that still loads must give a plan that really builds a working factorised generator.
"""
from __future__ import annotations

import copy
import json
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file, save_file
from torch import nn

from ganctl.compress import ranks as rk
from ganctl.compress.plan import apply_plan, decomposable_layers, plan_entry
from ganctl.errors import GanctlError
from ganctl.genotype import load_genotype
from ganctl.io.artifact import save_generator
from ganctl.models import build_generator, generator_spec
from ganctl.models.artifact import load_generator

from ._support import report_line

EXAMPLES = 120
FUZZ = settings(max_examples=EXAMPLES, deadline=timedelta(seconds=20),
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
TRIED: Counter[str] = Counter()
OUTCOME: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def _count(pytestconfig):
    yield
    for name in sorted(TRIED):  # drawn-but-aborted hypothesis examples are not counted as tried
        errors, valid = OUTCOME[name + ":error"], OUTCOME[name + ":ok"]
        report_line(pytestconfig, f"[robustness] {name}: {errors + valid} cases "
                                  f"({errors} clean errors, {valid} valid and built)")


@pytest.fixture(scope="module")
def generator() -> nn.Module:
    spec = generator_spec(load_genotype("tiny"), resolution=32, width=4, latent_dim=6, init_seed=0)
    return build_generator(spec).eval()


@pytest.fixture(scope="module")
def layers(generator) -> dict[str, nn.Module]:
    return decomposable_layers(generator)


@pytest.fixture(scope="module")
def valid_plan(layers) -> list[dict]:
    """One entry per layer kind the generator has: linear (svd), 1x1 (svd), k×k (cp and tucker)."""
    plan, wanted = [], {"linear": 1, "svd": 1, "cp": 1, "tucker": 1}
    for name, layer in layers.items():
        kernel = getattr(layer, "kernel_size", (1, 1))
        key = "linear" if isinstance(layer, nn.Linear) else ("svd" if kernel == (1, 1) else None)
        if key is None:
            key = "cp" if wanted["cp"] else "tucker"
        if wanted.get(key):
            wanted[key] -= 1
            method = "tucker" if key == "tucker" else "cp"
            plan.append(plan_entry(name, layer, method, [2, 2] if key == "tucker" else 2))
    assert len(plan) == 4
    return plan


def _json_values(names: list[str]) -> st.SearchStrategy:
    leaves = st.one_of(st.none(), st.booleans(), st.integers(-3, 40), st.integers(-(2**70), 2**70),
                       st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
                       st.sampled_from([*names, "svd", "cp", "tucker", "conv2d", "linear", "rank", "layer"]))
    def containers(kids: st.SearchStrategy) -> st.SearchStrategy:
        return st.one_of(st.lists(kids, max_size=4), st.dictionaries(st.text(max_size=8), kids, max_size=4))

    return st.recursive(leaves, containers, max_leaves=12)


def _mutated(plan: list[dict], data: st.DataObject, names: list[str]) -> list:
    """Mutations of a valid plan: drop / replace keys, swap or duplicate entries, wrong containers."""
    plan = copy.deepcopy(plan)
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(plan) - 1))
        op = data.draw(st.sampled_from(["set", "drop", "dup", "swap-type", "replace-entry", "add-key"]))
        entry = plan[i]
        if op == "set" and isinstance(entry, dict):
            key = data.draw(st.sampled_from(["layer", "type", "method", "rank"]))
            entry[key] = data.draw(_json_values(names))
        elif op == "drop" and isinstance(entry, dict) and entry:
            entry.pop(data.draw(st.sampled_from(sorted(entry))))
        elif op == "dup":
            plan.append(copy.deepcopy(entry))
        elif op == "swap-type" and isinstance(entry, dict):
            entry["layer"] = data.draw(st.sampled_from(names))
        elif op == "replace-entry":
            plan[i] = data.draw(_json_values(names))
        elif isinstance(entry, dict):
            entry[data.draw(st.text(max_size=6))] = data.draw(_json_values(names))
    return plan


def _forward_ok(model: nn.Module) -> None:
    with torch.no_grad():
        out = model(torch.randn(2, model.latent_dim, generator=torch.Generator().manual_seed(0)))
    assert out.shape == (2, 3, 32, 32) and torch.isfinite(out).all()


def _load_plan_file(path: Path, layers: dict, generator: nn.Module, name: str) -> None:
    """load_plan_file must give a clean error or a plan apply_plan really builds."""
    TRIED[name] += 1
    try:
        plan = rk.load_plan_file(path, layers, "cp")
    except GanctlError as e:
        assert str(path) in str(e) and "\n" not in str(e)
        OUTCOME[name + ":error"] += 1
        return
    OUTCOME[name + ":ok"] += 1
    _forward_ok(apply_plan(copy.deepcopy(generator), plan))


@FUZZ
@given(data=st.data())
def test_plan_file_mutations(tmp_path, generator, layers, valid_plan, data):
    names = list(layers)
    doc = _mutated([{k: e[k] for k in ("layer", "rank", "method")} for e in valid_plan], data, names)
    if data.draw(st.booleans()):  # the {layer: rank | {...}} object form
        doc = {str(e.get("layer")): e.get("rank") for e in doc if isinstance(e, dict)}
    path = tmp_path / "PLAN.json"
    path.write_text(json.dumps(doc))
    _load_plan_file(path, layers, generator, "plan file: mutated valid plan")


@FUZZ
@given(doc=_json_values(["latent_proj.0", "cells.0.c0.conv", "head.2"]))
def test_plan_file_arbitrary_json(tmp_path, generator, layers, doc):
    path = tmp_path / "PLAN.json"
    path.write_text(json.dumps(doc))
    _load_plan_file(path, layers, generator, "plan file: arbitrary JSON")


@FUZZ
@given(cut=st.integers(0, 400),
       edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=4))
def test_plan_file_bytes(tmp_path, generator, layers, valid_plan, cut, edits):
    raw = bytearray(json.dumps(valid_plan).encode())
    for pos, val in edits:
        raw[pos % len(raw)] = val
    path = tmp_path / "PLAN.json"
    path.write_bytes(bytes(raw[:cut]))
    _load_plan_file(path, layers, generator, "plan file: torn / flipped bytes")


@FUZZ
@given(data=st.data())
def test_apply_plan_mutations(generator, layers, valid_plan, data):
    name = "apply_plan: mutated decomposition"
    TRIED[name] += 1
    plan = _mutated(valid_plan, data, list(layers))
    if data.draw(st.integers(0, 9)) == 0:
        plan = data.draw(_json_values(list(layers)))
    try:
        model = apply_plan(copy.deepcopy(generator), plan)
    except GanctlError as e:
        assert "\n" not in str(e)
        OUTCOME[name + ":error"] += 1
        return
    OUTCOME[name + ":ok"] += 1
    _forward_ok(model)


@pytest.fixture(scope="module")
def compressed_artifact(tmp_path_factory, generator, valid_plan) -> tuple[dict, dict]:
    """Tensors and metadata of a real decomposed artifact (the decomposition lives in the spec)."""
    model = apply_plan(copy.deepcopy(generator), valid_plan)
    model.spec = {**generator.spec, "decomposition": valid_plan}
    path = tmp_path_factory.mktemp("art") / "g.safetensors"
    save_generator(path, model)
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    load_generator(path)  # the unmutated artifact loads
    return load_file(str(path)), meta


@FUZZ
@given(data=st.data())
def test_artifact_decomposition_mutations(tmp_path, generator, layers, valid_plan, compressed_artifact, data):
    """The same mutations, reached through load_generator: the spec's plan is replayed before the weights."""
    name = "load_generator: mutated spec decomposition"
    TRIED[name] += 1
    tensors, meta = compressed_artifact
    spec = json.loads(meta["spec"])
    spec["decomposition"] = _mutated(valid_plan, data, list(layers))
    path = tmp_path / "g.safetensors"
    save_file(tensors, str(path), metadata={**meta, "spec": json.dumps(spec)})
    try:
        model, _ = load_generator(path)
    except GanctlError as e:
        assert str(path) in str(e)
        OUTCOME[name + ":error"] += 1
        return
    OUTCOME[name + ":ok"] += 1
    _forward_ok(model)
