"""Genotype format: built-ins, save/load round trip, index-matrix import, and one-line SpecErrors."""

import json

import pytest

from ganctl.errors import InputFileError, SpecError
from ganctl.genotype import (
    Genotype,
    builtin_genotypes,
    import_index_matrix,
    load_genotype,
    parse_genotype,
    save_genotype,
)

MMD_KERNELS = [[3, 5, 5, 5, 0], [5, 0, 3, 3, 3], [5, 3, 5, 5, 5]]  # from the public compression scripts


def test_builtins_load_by_name():
    names = builtin_genotypes()
    assert {"mmd-adversarialnas-cifar10", "adversarialnas-cifar10", "tiny"} <= set(names)
    g = load_genotype("mmd-adversarialnas-cifar10")
    kernels = [
        # no conv layer (none, or the published skip edge of cell 0, issue #11) counts as 0
        [0 if c[f"c{i}"] in ("none", "skip") else int(c[f"c{i}"][-1]) for i in range(5)]
        for c in g.generator_cells
    ]
    assert kernels == MMD_KERNELS
    assert all(c[e] != "deconv" for c in g.generator_cells for e in ("up0", "up1"))


def test_save_load_round_trip(tmp_path):
    g = load_genotype("tiny")
    p = tmp_path / "g.json"
    save_genotype(p, g)
    data = json.loads(p.read_text())
    assert data["format"] == "ganctl.genotype" and data["version"] == 1
    assert data["ops"]["normal"][:2] == ["none", "skip"]
    assert load_genotype(p) == g


def test_import_index_matrix_with_public_op_lists():
    up = ["nearest", "bilinear", "bicubic", "ConvTranspose"]
    normal = ["none", "skip_connect", "conv_1x1", "conv_3x3", "conv_5x5", "dil_conv_3x3", "dil_conv_5x5"]
    g = import_index_matrix([[0, 1, 3, 4, 4, 4, 0], [3, 2, 5, 0, 3, 3, 1]], up_ops=up, normal_ops=normal)
    assert g.generator_cells[0] == {
        "up0": "nearest",
        "up1": "bilinear",
        "c0": "conv_3x3",
        "c1": "conv_5x5",
        "c2": "conv_5x5",
        "c3": "conv_5x5",
        "c4": "none",
    }
    assert g.generator_cells[1]["up0"] == "deconv" and g.generator_cells[1]["c4"] == "skip"
    assert g.provenance["up_ops"] == up


def test_import_requires_the_op_lists():
    with pytest.raises(TypeError):
        import_index_matrix([[0, 0, 3, 3, 3, 3, 3]])  # no op lists: refused


def _one_line(exc) -> str:
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


def test_import_index_outside_the_given_list():
    with pytest.raises(SpecError) as exc:
        import_index_matrix(
            [[0, 3, 3, 3, 3, 3, 3]],
            up_ops=["nearest", "bilinear", "bicubic"],
            normal_ops=["none", "skip", "conv_1x1", "conv_3x3"],
        )
    assert "index 3 is outside the 3 up ops" in _one_line(exc)


def test_import_unknown_op_in_list_and_row_length():
    with pytest.raises(SpecError) as exc:
        import_index_matrix([[0] * 7], up_ops=["nearest"], normal_ops=["none", "conv_9x9"])
    assert "conv_9x9" in _one_line(exc)
    with pytest.raises(SpecError, match="expected 7"):
        import_index_matrix([[0] * 6], up_ops=["nearest"], normal_ops=["none", "skip"])


def _tiny_dict():
    return load_genotype("tiny").to_dict()


def test_unknown_op_is_spec_error():
    d = _tiny_dict()
    d["generator"]["cells"][1]["c3"] = "conv_7x7"
    with pytest.raises(SpecError) as exc:
        parse_genotype(d, "g.json")
    assert _one_line(exc).startswith("g.json: generator cell 1 edge c3: unknown op 'conv_7x7'")


def test_op_missing_from_stored_list_is_spec_error():
    d = _tiny_dict()
    d["ops"]["normal"].remove("dil_conv_5x5")
    with pytest.raises(SpecError, match="not in ops.normal"):
        parse_genotype(d)


@pytest.mark.parametrize("edges,node", [(("c0", "c1"), "node2"), (("c2", "c3", "c4"), "node3")])
def test_disconnected_cell_is_spec_error(edges, node):
    d = _tiny_dict()
    for e in edges:
        d["generator"]["cells"][0][e] = "none"
    with pytest.raises(SpecError) as exc:
        parse_genotype(d)
    assert f"{node} has only 'none' inputs" in _one_line(exc)


def test_disconnected_discriminator_cell():
    d = _tiny_dict()
    d["discriminator"]["cells"][2].update(d1="none", c1="none")  # d0 path needs node1 = c1 or c3(node0)
    with pytest.raises(SpecError, match="discriminator cell 2 does not connect"):
        parse_genotype(d)


def test_foreign_and_missing_files(tmp_path):
    p = tmp_path / "x.json"
    p.write_text('{"format": "something-else"}')
    with pytest.raises(InputFileError, match="not a ganctl genotype"):
        load_genotype(p)
    p.write_text("{nope")
    with pytest.raises(InputFileError, match="not valid JSON"):
        load_genotype(p)
    with pytest.raises(InputFileError, match="not a built-in genotype"):
        load_genotype("no-such-genotype")


def test_genotype_dataclass_from_dict():
    assert Genotype.from_dict(_tiny_dict()) == load_genotype("tiny")


def test_assets_mirror_the_packaged_genotypes():
    from pathlib import Path

    from ganctl.genotype import BUILTIN_DIR

    assets = Path(__file__).resolve().parents[1] / "assets" / "genotypes"
    for packaged in BUILTIN_DIR.glob("*.json"):
        assert (assets / packaged.name).read_text() == packaged.read_text()
