"""folder:, npz:, the torchvision on-disk layouts (faked) and the decoded-data cache."""
import gzip
import os
import pickle
import struct
import urllib.error

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import ganctl.data.folder as folder_module
from ganctl.data import load_data
from ganctl.errors import DataError


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANCTL_CACHE", str(tmp_path / "cache"))


def _rgb(seed: int, height: int, width: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _write_folder(root, size=8):
    """Three square PNGs (one nested, one with an upper-case suffix), a corrupt file and a text file."""
    (root / "sub" / "deeper").mkdir(parents=True)
    files = {"a.png": _rgb(1, size, size), "sub/b.PNG": _rgb(2, size, size), "sub/deeper/c.png": _rgb(3, size, size)}
    for rel, pixels in files.items():
        Image.fromarray(pixels).save(root / rel, format="PNG")
    (root / "sub" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    (root / "notes.txt").write_text("ignored")
    return files


def test_folder_recursive_exact_pixels_and_corrupt_skipped(tmp_path):
    files = _write_folder(tmp_path / "imgs")
    with pytest.warns(UserWarning, match="skipped 1 undecodable"):
        data = load_data(f"folder:{tmp_path / 'imgs'}", resolution=8)
    assert data.skipped == 1 and len(data) == 3 and data.resolution == 8
    for index, rel in enumerate(sorted(files)):  # sorted by relative path
        assert np.array_equal(data.images[index].permute(1, 2, 0).numpy(), files[rel])


def test_folder_non_square_is_centre_cropped(tmp_path):
    pixels = _rgb(5, 8, 16)  # H=8, W=16: shorter side already 8, so only the crop applies
    Image.fromarray(pixels).save(tmp_path / "wide.png")
    data = load_data(f"folder:{tmp_path}", resolution=8)
    assert np.array_equal(data.images[0].permute(1, 2, 0).numpy(), pixels[:, 4:12])


def test_folder_downscale_close_to_box_average(tmp_path):
    ramp = np.linspace(0, 255, 32)
    pixels = np.stack([np.add.outer(ramp, ramp) / 2, np.tile(ramp, (32, 1)), np.full((32, 32), 77.0)], -1)
    Image.fromarray(pixels.round().astype(np.uint8)).save(tmp_path / "ramp.png")
    data = load_data(f"folder:{tmp_path}", resolution=8)
    expected = pixels.reshape(8, 4, 8, 4, 3).mean(axis=(1, 3))
    got = data.images[0].permute(1, 2, 0).numpy().astype(float)
    assert np.abs(got - expected)[1:-1, 1:-1].max() <= 2.0  # smooth ramp: any antialiased filter ≈ box mean


def test_folder_errors_name_the_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no decodable images") as info:
        load_data(f"folder:{tmp_path / 'empty'}")
    assert str(tmp_path / "empty") in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(DataError, match="not found") as info:
        load_data(f"folder:{tmp_path / 'missing'}")
    assert str(tmp_path / "missing") in str(info.value)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.jpg").write_bytes(b"garbage")
    with pytest.warns(UserWarning), pytest.raises(DataError, match="1 undecodable"):
        load_data(f"folder:{tmp_path / 'bad'}")


def test_folder_cache_hit_then_miss_after_change(tmp_path, monkeypatch):
    files = _write_folder(tmp_path / "imgs")
    calls = []
    real_decode = folder_module.decode_image_file

    def counting_decode(path, resolution):
        calls.append(path)
        return real_decode(path, resolution)

    monkeypatch.setattr(folder_module, "decode_image_file", counting_decode)
    with pytest.warns(UserWarning):
        first = load_data(f"folder:{tmp_path / 'imgs'}", resolution=8)
    assert len(calls) == 4  # 3 good + 1 corrupt
    assert list((tmp_path / "cache" / "data" / "decoded").glob("folder-*.safetensors"))
    with pytest.warns(UserWarning):
        second = load_data(f"folder:{tmp_path / 'imgs'}", resolution=8)
    assert len(calls) == 4, "second load must come from the cache"
    assert torch.equal(first.images, second.images) and second.skipped == 1
    assert second.fingerprint == first.fingerprint and "decoded cache" in second.source

    new_pixels = _rgb(9, 8, 8)
    Image.fromarray(new_pixels).save(tmp_path / "imgs" / "a.png")
    stat = os.stat(tmp_path / "imgs" / "a.png")
    os.utime(tmp_path / "imgs" / "a.png", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    with pytest.warns(UserWarning):
        third = load_data(f"folder:{tmp_path / 'imgs'}", resolution=8)
    assert len(calls) == 8, "a changed file is a cache miss"
    assert np.array_equal(third.images[0].permute(1, 2, 0).numpy(), new_pixels)
    assert third.fingerprint != first.fingerprint
    with pytest.warns(UserWarning):
        load_data(f"folder:{tmp_path / 'imgs'}", resolution=4)
    assert len(calls) == 12, "another resolution is another cache entry"
    del files


@pytest.mark.parametrize("layout", ["nhwc", "nchw", "gray", "gray1"])
@pytest.mark.parametrize("key", ["x", "images", "arr_0", "other"])
def test_npz_round_trip(tmp_path, layout, key):
    nhwc = np.random.default_rng(0).integers(0, 256, (6, 8, 8, 3), dtype=np.uint8)
    if layout.startswith("gray"):
        nhwc = np.repeat(nhwc[..., :1], 3, axis=-1)
    stored = {"nhwc": nhwc, "nchw": nhwc.transpose(0, 3, 1, 2), "gray": nhwc[..., 0],
              "gray1": nhwc[..., :1]}[layout]
    np.savez(tmp_path / "d.npz", **{key: stored})
    data = load_data(f"npz:{tmp_path / 'd.npz'}")
    assert data.resolution == 8 and data.name == f"npz:{tmp_path / 'd.npz'}"
    assert np.array_equal(data.images.permute(0, 2, 3, 1).numpy(), nhwc)


def test_npz_resized_when_resolution_differs(tmp_path):
    ramp = np.linspace(0, 255, 16)
    image = np.stack([np.add.outer(ramp, ramp) / 2] * 3, -1).round().astype(np.uint8)
    np.savez(tmp_path / "d.npz", x=image[None])
    data = load_data(f"npz:{tmp_path / 'd.npz'}", resolution=8)
    expected = F.avg_pool2d(torch.from_numpy(image).permute(2, 0, 1)[None].float(), 2)[0]
    assert data.resolution == 8
    assert (data.images[0].float() - expected).abs()[:, 1:-1, 1:-1].max() <= 2.0


def test_npz_errors(tmp_path):
    np.savez(tmp_path / "f.npz", x=np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(DataError, match="uint8"):
        load_data(f"npz:{tmp_path / 'f.npz'}")
    np.savez(tmp_path / "two.npz", a=np.zeros((2, 8, 8, 3), np.uint8), b=np.zeros(3, np.uint8))
    with pytest.raises(DataError, match="expected key"):
        load_data(f"npz:{tmp_path / 'two.npz'}")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(DataError, match="junk.npz"):
        load_data(f"npz:{tmp_path / 'junk.npz'}")
    with pytest.raises(DataError, match="not found"):
        load_data(f"npz:{tmp_path / 'none.npz'}")


# --- torchvision layouts, faked on disk -------------------------------------------------------

def _fake_cifar10(root, per_batch=4, bytes_keys=(2,)):
    """cifar-10-batches-py/data_batch_1..5 as the python pickles torchvision reads (3072-byte rows)."""
    base = root / "cifar-10-batches-py"
    base.mkdir(parents=True)
    rows = []
    for number in range(1, 6):
        data = np.random.default_rng(number).integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        entry = {"batch_label": f"batch {number}", "labels": [0] * per_batch, "data": data,
                 "filenames": [f"{number}_{i}.png" for i in range(per_batch)]}
        if number in bytes_keys:  # the real files were written by Python 2: bytes keys
            entry = {key.encode(): value for key, value in entry.items()}
        with open(base / f"data_batch_{number}", "wb") as handle:
            pickle.dump(entry, handle, protocol=2)
        rows.append(data)
    return np.concatenate(rows)


def test_cifar10_fake_layout_exact_pixels(tmp_path):
    rows = _fake_cifar10(tmp_path / "root")
    data = load_data("cifar10", root=tmp_path / "root", download=False)
    assert data.images.shape == (20, 3, 32, 32) and data.resolution == 32 and data.name == "cifar10"
    for index in (0, 7, 19):
        for channel, row, col in ((0, 0, 0), (1, 5, 31), (2, 31, 17)):
            assert data.images[index, channel, row, col] == rows[index, channel * 1024 + row * 32 + col]
    again = load_data("cifar10", root=tmp_path / "root", download=False)
    assert "decoded cache" in again.source and again.fingerprint == data.fingerprint


def test_cifar_pickle_with_code_is_refused(tmp_path):
    _fake_cifar10(tmp_path / "root")
    with open(tmp_path / "root" / "cifar-10-batches-py" / "data_batch_3", "wb") as handle:
        pickle.dump({"data": os.system}, handle)
    with pytest.raises(DataError, match="refusing"):
        load_data("cifar10", root=tmp_path / "root", download=False)


def test_ganctl_offline_forbids_download(tmp_path, monkeypatch):
    import torchvision.datasets.cifar as tv_cifar

    def must_not_download(*args, **kwargs):
        raise AssertionError("downloaded despite GANCTL_OFFLINE=1")

    monkeypatch.setenv("GANCTL_OFFLINE", "1")
    monkeypatch.setattr(tv_cifar.CIFAR10, "download", must_not_download)
    with pytest.raises(DataError, match="cifar-10-batches-py"):
        load_data("cifar10", root=tmp_path / "nothing", download=True)


def test_missing_torchvision_set_offline_message(tmp_path, monkeypatch):
    with pytest.raises(DataError) as info:
        load_data("cifar10", root=tmp_path / "nothing", download=False)
    message = str(info.value)
    assert "\n" not in message and str(tmp_path / "nothing") in message and "cifar-10-batches-py" in message
    assert "https://www.cs.toronto.edu/~kriz/cifar.html" in message and "--data-root" in message

    import torchvision.datasets.cifar as tv_cifar

    monkeypatch.delenv("GANCTL_OFFLINE", raising=False)  # let load_data try (and fail) to download

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(tv_cifar, "download_and_extract_archive", offline)
    with pytest.raises(DataError, match=r"download failed \(offline\?\)") as info:
        load_data("cifar100", root=tmp_path / "nothing", download=True)
    assert "\n" not in str(info.value) and "cifar-100-python" in str(info.value)


def test_default_data_root_follows_ganctl_cache(tmp_path):
    with pytest.raises(DataError, match=str(tmp_path / "cache" / "data")):
        load_data("stl10", download=False)


def test_stl10_fake_layout_column_major(tmp_path):
    base = tmp_path / "stl10_binary"
    base.mkdir()
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 256, (5, 3, 96, 96), dtype=np.uint8)  # C×H×W as seen
    (base / "train_X.bin").write_bytes(truth[:2].transpose(0, 1, 3, 2).tobytes())  # stored column-major
    (base / "unlabeled_X.bin").write_bytes(truth[2:].transpose(0, 1, 3, 2).tobytes())
    full = load_data("stl10", root=tmp_path, resolution=96, download=False)
    assert np.array_equal(full.images.numpy(), truth)
    ramp = np.linspace(0, 255, 96)
    smooth = np.broadcast_to(np.add.outer(ramp, ramp)[None, None] / 2, (5, 3, 96, 96)).round().astype(np.uint8)
    (base / "train_X.bin").write_bytes(smooth[:2].transpose(0, 1, 3, 2).tobytes())
    (base / "unlabeled_X.bin").write_bytes(smooth[2:].transpose(0, 1, 3, 2).tobytes())
    half = load_data("stl10", root=tmp_path, download=False)
    expected = F.avg_pool2d(torch.from_numpy(smooth).float(), 2)
    assert half.resolution == 48 and (half.images.float() - expected).abs()[..., 1:-1, 1:-1].max() <= 2.0


def test_celeba_fake_layout_centre_crop(tmp_path):
    base = tmp_path / "celeba"
    (base / "img_align_celeba").mkdir(parents=True)
    lines = []
    for index, colour in enumerate([(200, 10, 10), (10, 200, 10), (10, 10, 200)]):
        pixels = np.zeros((218, 178, 3), np.uint8)
        pixels[39:179, 19:159] = colour  # the central 140×140 crop
        name = f"{index + 1:06d}.jpg"
        Image.fromarray(pixels).save(base / "img_align_celeba" / name, format="PNG")  # lossless payload
        lines.append(f"{name} {index}")
    (base / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")
    data = load_data("celeba", root=tmp_path, download=False)
    assert data.images.shape == (3, 3, 64, 64)
    assert torch.equal(data.images[1], torch.tensor([10, 200, 10], dtype=torch.uint8).view(3, 1, 1).expand(3, 64, 64))


def test_fashion_mnist_idx_gz(tmp_path):
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    pixels = np.random.default_rng(0).integers(0, 256, (4, 28, 28), dtype=np.uint8)
    with gzip.open(raw / "train-images-idx3-ubyte.gz", "wb") as handle:
        handle.write(struct.pack(">IIII", 2051, 4, 28, 28) + pixels.tobytes())
    data = load_data("fashion-mnist", root=tmp_path, resolution=28, download=False)
    for channel in range(3):
        assert np.array_equal(data.images[:, channel].numpy(), pixels)


def test_corrupt_cache_file_is_rebuilt(tmp_path):
    _fake_cifar10(tmp_path / "root")
    first = load_data("cifar10", root=tmp_path / "root", download=False)
    (cache_file,) = (tmp_path / "cache" / "data" / "decoded").glob("cifar10-*.safetensors")
    cache_file.write_bytes(b"\x00" * 64)
    with pytest.warns(UserWarning, match="unreadable data cache"):
        again = load_data("cifar10", root=tmp_path / "root", download=False)
    assert torch.equal(again.images, first.images) and "decoded cache" not in again.source
    assert "decoded cache" in load_data("cifar10", root=tmp_path / "root", download=False).source
