"""shapes generator and the dataset registry (names, --data parsing, subsets, fingerprints)."""
import time

import numpy as np
import pytest
import torch

from ganctl.data import DATASETS, dataset_names, generate_shapes, load_data, parse_data_arg
from ganctl.data.imagedata import content_fingerprint
from ganctl.data.shapes import DEFAULT_COUNT
from ganctl.errors import UsageError


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANCTL_CACHE", str(tmp_path / "cache"))


@pytest.mark.parametrize("resolution", [8, 32, 48])
def test_shapes_deterministic_per_seed_and_any_resolution(resolution):
    a = load_data("shapes", resolution=resolution, seed=3, max_images=40)
    b = load_data("shapes", resolution=resolution, seed=3, max_images=40)
    c = load_data("shapes", resolution=resolution, seed=4, max_images=40)
    assert a.images.shape == (40, 3, resolution, resolution) and a.images.dtype == torch.uint8
    assert a.images.is_contiguous() and a.resolution == resolution and len(a) == 40
    assert torch.equal(a.images, b.images) and a.fingerprint == b.fingerprint
    differing = (a.images != c.images).flatten(1).any(1)
    assert bool(differing.all()), "every image should differ across seeds"
    assert a.fingerprint != c.fingerprint


def test_shapes_prefix_stable_and_diverse():
    threads = torch.get_num_threads()
    big = generate_shapes(300, 16, seed=0)
    assert torch.get_num_threads() == threads, "the single-thread render must restore the setting"
    small = generate_shapes(30, 16, seed=0)
    assert torch.equal(big[:30], small)
    x = big.float().numpy()
    per_image_std = x.reshape(300, -1).std(axis=1)
    assert per_image_std.min() > 5, "no flat images: every image has texture or a shape"
    channel_means = x.mean(axis=(2, 3))
    assert channel_means.std(axis=0).min() > 20, "colours vary across images"
    assert len({img.tobytes() for img in big.numpy()}) == 300


def test_shapes_default_count_and_speed():
    data = load_data("shapes", resolution=8)
    assert len(data) == DEFAULT_COUNT == 10_000
    start = time.perf_counter()
    generate_shapes(10_000, 32, seed=1)
    assert time.perf_counter() - start < 30.0  # ~1 s on an idle 2-core CPU; loose for loaded CI machines


def test_parse_data_arg(tmp_path):
    assert parse_data_arg("cifar10") == ("cifar10", None)
    assert parse_data_arg("folder:/x/y") == ("folder", "/x/y")
    assert parse_data_arg("npz:a.npz") == ("npz", "a.npz")
    assert parse_data_arg(str(tmp_path)) == ("folder", str(tmp_path))
    for bad in ("imagenet", "folder", "folder:", "cifar10:/x"):
        with pytest.raises(UsageError):
            parse_data_arg(bad)
    with pytest.raises(UsageError, match="cifar10.*shapes|shapes.*cifar10"):
        load_data("imagenet")


def test_table_and_names():
    assert {"cifar10", "cifar100", "stl10", "celeba", "shapes", "folder:PATH", "npz:PATH"} <= set(dataset_names())
    assert DATASETS["stl10"].default_resolution == 48 and DATASETS["celeba"].default_resolution == 64
    assert all(info.description for info in DATASETS.values())


@pytest.mark.parametrize("resolution", [0, 3, 10_000, 32.0])
def test_bad_resolution_is_usage_error(resolution):
    with pytest.raises(UsageError, match="resolution"):
        load_data("shapes", resolution=resolution)


def test_max_images_subset_is_seeded_subset(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (50, 8, 8, 3), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x=images)
    full = load_data(f"npz:{tmp_path / 'd.npz'}").images.numpy()
    sub_a = load_data(f"npz:{tmp_path / 'd.npz'}", max_images=10, seed=1).images.numpy()
    sub_b = load_data(f"npz:{tmp_path / 'd.npz'}", max_images=10, seed=1).images.numpy()
    sub_c = load_data(f"npz:{tmp_path / 'd.npz'}", max_images=10, seed=2).images.numpy()
    assert np.array_equal(sub_a, sub_b) and not np.array_equal(sub_a, sub_c)
    rows = [next(i for i in range(50) if np.array_equal(full[i], img)) for img in sub_a]
    assert rows == sorted(rows) and len(set(rows)) == 10  # original order, no repeats
    with pytest.raises(UsageError):
        load_data("shapes", max_images=0)


def test_fingerprint_covers_content_resolution_and_kind():
    images = generate_shapes(8, 8, seed=0)
    base = content_fingerprint(images, "npz", 8)
    assert len(base) == 16 and int(base, 16) >= 0
    assert content_fingerprint(images.clone(), "npz", 8) == base
    changed = images.clone()
    changed[3, 1, 2, 5] ^= 1
    assert content_fingerprint(changed, "npz", 8) != base
    assert content_fingerprint(images, "folder", 8) != base
