"""`sprites`: the built-in set a tiny GAN learns on a CPU (one flat shape per image, plain background)."""
import pytest
import torch

from ganctl.data import DATASETS, load_data, parse_data_arg
from ganctl.data.sprites import PALETTE, generate_sprites


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANCTL_CACHE", str(tmp_path / "cache"))


def test_registered_deterministic_and_prefix_stable():
    assert parse_data_arg("sprites") == ("sprites", None) and DATASETS["sprites"].default_resolution == 32
    a = load_data("sprites", resolution=32, seed=3, max_images=300)
    b = load_data("sprites", resolution=32, seed=3, max_images=300)
    assert a.images.shape == (300, 3, 32, 32) and a.images.dtype == torch.uint8
    assert torch.equal(a.images, b.images) and a.fingerprint == b.fingerprint
    assert torch.equal(generate_sprites(40, 32, seed=3), generate_sprites(300, 32, seed=3)[:40])
    assert bool((generate_sprites(40, 32, seed=4) != a.images[:40]).flatten(1).any(1).all())


def test_one_shape_in_a_palette_colour_on_a_plain_light_background():
    x = generate_sprites(200, 32, seed=0).float() / 255
    corners = torch.stack([x[:, :, 0, 0], x[:, :, 0, -1], x[:, :, -1, 0], x[:, :, -1, -1]], 1)  # N×4×3
    assert bool((corners > 0.85).all()), "the background is light and the shape never touches the corners"
    assert float((corners - corners.mean(1, keepdim=True)).abs().max()) < 1e-6, "the background is plain"
    centre = x[:, :, 16, 16]  # the shape always covers the image centre
    distance = (centre[:, None, :] - PALETTE[None]).abs().amax(-1).min(1).values
    assert float(distance.max()) <= 0.05 + 1 / 255, "centre pixels carry a palette colour (±0.05 tint)"
    covered = ((x - x[:, :, :1, :1]).abs().amax(1) > 0.2).float().mean((1, 2))
    assert float(covered.min()) > 0.12 and float(covered.max()) < 0.6, "one large shape, not the whole image"
