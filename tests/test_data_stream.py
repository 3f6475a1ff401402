"""BatchStream: values, flips, exact resume, DDP sharding, epoch rollover."""
import numpy as np
import pytest
import torch

from ganctl.data import BatchStream, generate_shapes
from ganctl.errors import DataError


@pytest.fixture(scope="module")
def images():
    return generate_shapes(37, 8, seed=5)


def _expected_batch(images: torch.Tensor, indices, mirror) -> np.ndarray:
    """x/127.5 − 1 in NumPy float32, mirrored along width where `mirror` is set."""
    x = images.numpy()[np.asarray(indices)].astype(np.float32) / np.float32(127.5) - np.float32(1)
    return np.where(np.asarray(mirror)[:, None, None, None], x[..., ::-1], x)


def test_values_are_scaled_pixels_with_flips(images):
    stream = BatchStream(images, batch_size=8, device="cpu", seed=0, flip=True)
    assert stream.batches_per_epoch == 4
    flips = 0
    for position in range(4):
        indices = stream.epoch_indices(0)[position * 8:(position + 1) * 8]
        mask = stream.flip_mask(0, position)
        batch = stream.next()
        assert batch.dtype == torch.float32 and batch.shape == (8, 3, 8, 8)
        assert batch.min() >= -1 and batch.max() <= 1
        np.testing.assert_allclose(batch.numpy(), _expected_batch(images, indices, mask), rtol=0, atol=1e-6)
        flips += int(mask.sum())
    assert 4 <= flips <= 28  # about half of 32 images mirrored
    plain = BatchStream(images, batch_size=8, seed=0, flip=False).next()
    np.testing.assert_allclose(plain.numpy(), _expected_batch(images, stream.epoch_indices(0)[:8], [False] * 8),
                               rtol=0, atol=1e-6)


def test_epoch_is_a_permutation_and_rolls_over(images):
    stream = BatchStream(images, batch_size=6, seed=1)
    order0, order1 = stream.epoch_indices(0), stream.epoch_indices(1)
    assert sorted(order0.tolist()) == list(range(37)) and not torch.equal(order0, order1)
    for _ in range(stream.batches_per_epoch):
        assert stream.epoch == 0
        stream.next()
    assert stream.epoch == 1 and stream.position == 0
    assert not torch.equal(BatchStream(images, 6, seed=2).epoch_indices(0), order0)


@pytest.mark.parametrize("consumed", [0, 3, 4, 9])
def test_exact_resume(images, consumed):
    reference = BatchStream(images, batch_size=9, seed=7)
    straight = [reference.next() for _ in range(consumed + 6)]
    first = BatchStream(images, batch_size=9, seed=7)
    for _ in range(consumed):
        first.next()
    state = first.state_dict()
    assert all(isinstance(value, int) for value in state.values())
    resumed = BatchStream(images, batch_size=9, seed=7)
    resumed.load_state_dict(state)
    assert resumed.epoch == first.epoch
    for expected in straight[consumed:]:
        assert torch.equal(resumed.next(), expected)


def test_resume_refuses_other_stream(images):
    state = BatchStream(images, batch_size=9, seed=7).state_dict()
    with pytest.raises(DataError, match="batch_size"):
        BatchStream(images, batch_size=8, seed=7).load_state_dict(state)
    with pytest.raises(DataError, match="seed"):
        BatchStream(images, batch_size=9, seed=8).load_state_dict(state)


def test_sharding_disjoint_cover_and_values(images):
    ranks = [BatchStream(images, batch_size=3, seed=4, rank=r, world_size=2) for r in range(2)]
    shards = [set(stream.epoch_indices(0).tolist()) for stream in ranks]
    assert len(shards[0]) == len(shards[1]) == 18 and not shards[0] & shards[1]
    assert len(shards[0] | shards[1]) == 36  # 37 images: one left out so both ranks stay in step
    assert ranks[0].batches_per_epoch == ranks[1].batches_per_epoch == 6
    permutation = BatchStream(images, batch_size=3, seed=4).epoch_indices(0)
    assert ranks[1].epoch_indices(0).tolist() == permutation[:36][1::2].tolist()
    batch = ranks[1].next()
    indices = ranks[1].epoch_indices(0)[:3]
    np.testing.assert_allclose(batch.numpy(), _expected_batch(images, indices, ranks[1].flip_mask(0, 0)), atol=1e-6)
    assert ranks[0].state_dict() == {**ranks[1].state_dict(), "position": 0}  # rank-independent state


def test_too_small_dataset(images):
    with pytest.raises(DataError, match="fewer than one batch"):
        BatchStream(images[:5], batch_size=4, world_size=2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("budget", [None, 0])  # GPU-resident and pinned-host paths
def test_cuda_paths_match_cpu(images, budget):
    cpu = BatchStream(images, batch_size=8, seed=3)
    gpu = BatchStream(images, batch_size=8, device="cuda", seed=3, gpu_budget_bytes=budget)
    assert gpu.resident == (budget is None)
    for _ in range(6):
        out = gpu.next()
        assert out.device.type == "cuda"
        assert torch.equal(out.cpu(), cpu.next())
