"""Fuzzing the genotype loader: any JSON, or any corruption of a real genotype, is a clean error or a valid genotype."""
import copy
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ganctl.errors import GanctlError
from ganctl.genotype import load_genotype
from ganctl.models import build_generator, generator_spec

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
BASE = load_genotype("mmd-adversarialnas-cifar10").to_dict()
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=False), st.text(max_size=12),
              st.sampled_from(["none", "skip", "conv_3x3", "deconv", "nearest", "up", "normal", "ganctl.genotype"])),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4), max_leaves=12)


def _set_path(doc, path, value):
    node = doc
    for key in path[:-1]:
        if isinstance(node, dict) and node:
            node = node[sorted(node)[key % len(node)]]
        elif isinstance(node, list) and node:
            node = node[key % len(node)]
        else:
            return doc
    if isinstance(node, dict) and node:
        node[sorted(node)[path[-1] % len(node)]] = value
    elif isinstance(node, list) and node:
        node[path[-1] % len(node)] = value
    return doc


@FUZZ
@given(path=st.lists(st.integers(0, 50), min_size=1, max_size=5), value=json_values)
def test_mutated_genotype_is_clean_error_or_buildable(tmp_path, path, value):
    doc = _set_path(copy.deepcopy(BASE), path, value)
    f = tmp_path / "g.json"
    f.write_text(json.dumps(doc))
    try:
        g = load_genotype(f)
    except GanctlError as e:
        assert str(f) in str(e)
        return
    # what the loader accepts must build
    build_generator(generator_spec(g, resolution=32, width=8, latent_dim=12, activation="relu"))


@FUZZ
@given(raw=st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_arbitrary_bytes(tmp_path, raw):
    f = tmp_path / "g.json"
    f.write_bytes(raw)
    try:
        load_genotype(f)
    except GanctlError as e:
        assert str(f) in str(e)
