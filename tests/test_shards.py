"""Data that don't fit one host: each worker loads only its rows, and the shards make up the data set."""

import numpy as np
import pytest

from softmax_rosetta import data


@pytest.mark.parametrize("world_size", [1, 2, 3, 7])
@pytest.mark.parametrize("name", ["iris", "digits"])
def test_dataset_shards_make_up_the_data_set(name, world_size):
    x, y = data.load_dataset(name)
    parts = [data.load_dataset(name, rank, world_size) for rank in range(world_size)]
    assert all(len(px) == len(py) for px, py in parts)
    assert max(len(px) for px, _ in parts) - min(len(px) for px, _ in parts) <= 1
    np.testing.assert_array_equal(np.concatenate([px for px, _ in parts]), x)
    np.testing.assert_array_equal(np.concatenate([py for _, py in parts]), y)


@pytest.mark.parametrize("world_size", [1, 2, 4, 5])
def test_synthetic_shards_make_up_the_data_set(world_size):
    x, y = data.synthetic(1001, 6, 4, seed=3, separation=2.0)
    parts = [
        data.synthetic(1001, 6, 4, seed=3, separation=2.0, rank=r, world_size=world_size) for r in range(world_size)
    ]
    np.testing.assert_array_equal(np.concatenate([px for px, _ in parts]), x)
    np.testing.assert_array_equal(np.concatenate([py for _, py in parts]), y)


def test_a_synthetic_shard_skips_more_noise_than_one_block():
    """A shard starting past the skipping block size (1 << 20 values) still matches the whole set."""
    x, y = data.synthetic(70_000, 32, 3, seed=1)
    tail_x, tail_y = data.synthetic(70_000, 32, 3, seed=1, rank=2, world_size=3)
    np.testing.assert_array_equal(tail_x, x[len(x) - len(tail_x) :])
    np.testing.assert_array_equal(tail_y, y[len(y) - len(tail_y) :])


def test_shard_splits_a_batch_as_array_split():
    rows = np.array([9, 4, 7, 1, 0, 3, 8], dtype=np.int64)
    for world_size in range(1, 8):
        expected = np.array_split(rows, world_size)
        for rank in range(world_size):
            np.testing.assert_array_equal(data.shard(rows, rank, world_size), expected[rank])


@pytest.mark.parametrize(
    ("rank", "world_size", "field"), [(0, 0, "world_size"), (2, 2, "rank"), (-1, 2, "rank"), (0, 1.5, "world_size")]
)
def test_shard_refuses_a_bad_rank_or_world_size(rank, world_size, field):
    with pytest.raises(ValueError, match=f"^{field}: "):
        data.shard_bounds(10, rank, world_size)
