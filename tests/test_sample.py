"""Sampling core: grid geometry and pixels, numbered PNGs, npz layout, slerp interpolation, determinism."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from evaluate_standins import TinyGenerator
from PIL import Image

from ganctl.errors import UsageError
from ganctl.evaluate.generate import Generation, generate_uint8, make_noise, to_uint8
from ganctl.evaluate.sample import interpolate, sample_grid, sample_to_dir, sample_to_npz, save_grid, slerp


def test_grid_png_size_and_pixels(tmp_path):
    G = TinyGenerator()
    path = sample_grid(G, num=10, seed=1, path=tmp_path / "grid.png", nrow=4)
    grid = np.asarray(Image.open(path))
    # 4 per row, 3 rows; 8 px images with 2 px padding around each
    assert grid.shape == (3 * 10 + 2, 4 * 10 + 2, 3)
    images = generate_uint8(G, 10, seed=1).permute(0, 2, 3, 1).numpy()
    for i in range(10):
        r, c = divmod(i, 4)
        y, x = 2 + r * 10, 2 + c * 10
        np.testing.assert_array_equal(grid[y:y + 8, x:x + 8], images[i])
    assert (grid[:2] == 0).all()  # padding
    assert not list(tmp_path.glob("*.tmp"))


def test_grid_scale_repeats_each_pixel_as_a_block(tmp_path):
    G = TinyGenerator()
    images = generate_uint8(G, 3, seed=1)
    grid = np.asarray(Image.open(save_grid(images, tmp_path / "grid.png", nrow=3, scale=3)))
    assert grid.shape == (3 * 8 + 4, 3 * (3 * 8 + 2) + 2, 3)  # 24 px tiles, 2 px padding
    images = images.permute(0, 2, 3, 1).numpy()
    for i in range(3):
        tile = grid[2:26, 2 + i * 26: 26 + i * 26]
        for dy in range(3):
            for dx in range(3):  # every 3×3 block holds one source pixel
                np.testing.assert_array_equal(tile[dy::3, dx::3], images[i])
    for bad in (0, 17):
        with pytest.raises(UsageError, match="grid scale must be in 1..16"):
            save_grid(generate_uint8(G, 3, seed=1), tmp_path / "bad.png", scale=bad)


def test_grid_default_is_about_square(tmp_path):
    grid = np.asarray(Image.open(sample_grid(TinyGenerator(), 9, 0, tmp_path / "g.png")))
    assert grid.shape == (32, 32, 3)


def test_sample_to_dir_numbered_and_equal_to_generation(tmp_path):
    G = TinyGenerator()
    paths = sample_to_dir(G, 5, seed=2, out_dir=tmp_path / "out", gen=Generation(batch_size=2))
    assert [p.name for p in paths] == [f"{i:06d}.png" for i in range(5)]
    images = generate_uint8(G, 5, seed=2).permute(0, 2, 3, 1).numpy()
    for p, img in zip(paths, images, strict=True):
        np.testing.assert_array_equal(np.asarray(Image.open(p)), img)


def test_npz_layout_and_determinism(tmp_path):
    G = TinyGenerator()
    a = sample_to_npz(G, 6, seed=3, path=tmp_path / "a.npz", gen=Generation(batch_size=4))
    b = sample_to_npz(G, 6, seed=3, path=tmp_path / "b.npz", gen=Generation(batch_size=5))
    with np.load(a) as za, np.load(b) as zb:
        assert list(za.keys()) == ["x"]
        x = za["x"]
        assert x.shape == (6, 8, 8, 3) and x.dtype == np.uint8
        np.testing.assert_array_equal(x, zb["x"])
    np.testing.assert_array_equal(x, generate_uint8(G, 6, seed=3).permute(0, 2, 3, 1).numpy())


def _slerp_numpy(a, b, t):
    omega = np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1))
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


def test_slerp_matches_formula_and_endpoints():
    a, b = torch.randn(3, 8, dtype=torch.float64), torch.randn(3, 8, dtype=torch.float64)
    t = torch.linspace(0, 1, 5, dtype=torch.float64)
    out = slerp(a, b, t)
    assert out.shape == (3, 5, 8)
    for i in range(3):
        for j, tj in enumerate(t.tolist()):
            np.testing.assert_allclose(out[i, j].numpy(), _slerp_numpy(a[i].numpy(), b[i].numpy(), tj),
                                       rtol=1e-10, atol=1e-12)
    # parallel vectors fall back to linear interpolation instead of dividing by sin(0)
    par = slerp(a[:1], 2 * a[:1], t)
    assert torch.isfinite(par).all()


def test_interpolate_rows_and_endpoints():
    G = TinyGenerator()
    frames = interpolate(G, k=4, seed=5, num_pairs=2)
    assert frames.shape == (8, 3, 8, 8) and frames.dtype == torch.uint8
    noise = make_noise(4, 8, 5)
    with torch.no_grad():
        ends = to_uint8(G.eval()(noise))
    assert (frames[0].int() - ends[0].int()).abs().max() <= 1
    assert (frames[3].int() - ends[1].int()).abs().max() <= 1
    assert (frames[4].int() - ends[2].int()).abs().max() <= 1
    assert (frames[7].int() - ends[3].int()).abs().max() <= 1
    assert torch.equal(frames, interpolate(G, k=4, seed=5, num_pairs=2))


def test_bad_sampling_requests(tmp_path):
    with pytest.raises(UsageError):
        sample_grid(TinyGenerator(), 0, 0, tmp_path / "x.png")
    with pytest.raises(UsageError):
        interpolate(TinyGenerator(), k=1, seed=0)
    assert not (tmp_path / "x.png").exists()


def test_interpolate_fast_path_same_frames():
    """--interpolate honours --channels-last/--compile like the other modes: the frames are the same pixels,
    and the generator is handed back in its own layout."""
    G = TinyGenerator()
    plain = interpolate(G, k=3, seed=2, num_pairs=2)
    nhwc = interpolate(G, k=3, seed=2, num_pairs=2, gen=Generation(channels_last=True))
    assert torch.equal(plain, nhwc)
    assert all(p.is_contiguous() for p in G.parameters())
