"""The data in common/: shipped data sets, the synthetic generator, split, standardisation, batches."""

import numpy as np
import pytest

from softmax_rosetta import load_spec
from softmax_rosetta.data import Batches, load_dataset, standardize, synthetic, train_test_split


@pytest.mark.parametrize("name,shape,classes", [("iris", (150, 4), 3), ("digits", (1797, 64), 10)])
def test_shipped_data_sets(name, shape, classes):
    x, y = load_dataset(name)
    assert x.shape == shape and y.shape == shape[:1]
    assert x.dtype == np.float64 and y.dtype == np.int64
    assert sorted(set(y.tolist())) == list(range(classes))
    assert not x.flags.writeable and not y.flags.writeable
    assert np.isfinite(x).all()


def test_iris_is_fishers_table():
    x, y = load_dataset("iris")
    assert np.bincount(y).tolist() == [50, 50, 50]
    assert x[0].tolist() == [5.1, 3.5, 1.4, 0.2]
    # the two values where Fisher's table (and R, scikit-learn) differs from the UCI file
    assert x[34].tolist() == [4.9, 3.1, 1.5, 0.2] and x[37].tolist() == [4.9, 3.6, 1.4, 0.1]
    assert x.sum() == pytest.approx(2078.7)


def test_digits_are_pixel_counts():
    x, y = load_dataset("digits")
    assert x.min() == 0 and x.max() == 16 and np.array_equal(x, np.round(x))
    assert np.bincount(y).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    assert x[0, :10].tolist() == [0, 0, 5, 13, 9, 1, 0, 0, 0, 0] and y[0] == 0


def test_unknown_data_set():
    with pytest.raises(ValueError, match="unknown data set 'mnist'; known: iris, digits"):
        load_dataset("mnist")


def test_synthetic_is_seeded_balanced_and_shaped():
    x, y = synthetic(100, 5, 3, seed=7, separation=2.0)
    assert x.shape == (100, 5) and y.shape == (100,) and y.dtype == np.int64
    assert np.bincount(y).tolist() == [34, 33, 33]
    x2, y2 = synthetic(100, 5, 3, seed=7, separation=2.0)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    x3, _ = synthetic(100, 5, 3, seed=8, separation=2.0)
    assert not np.array_equal(x, x3)


def test_synthetic_separation_is_the_distance_between_centres():
    """The class means sit about ``separation`` apart; the rows scatter about them with std 1."""
    x, y = synthetic(30000, 50, 2, seed=0, separation=4.0)
    means = np.stack([x[y == k].mean(axis=0) for k in range(2)])
    assert np.linalg.norm(means[0] - means[1]) == pytest.approx(4.0, rel=0.5)
    assert (x[y == 0] - means[0]).std() == pytest.approx(1.0, rel=0.02)


def test_split_is_stratified_seeded_and_ordered():
    x, y = load_dataset("iris")
    xtr, ytr, xte, yte = train_test_split(x, y, 0.2, seed=0)
    assert xtr.shape == (120, 4) and xte.shape == (30, 4)
    assert np.bincount(yte).tolist() == [10, 10, 10]
    assert np.array_equal(ytr, np.sort(ytr)) and np.array_equal(yte, np.sort(yte))  # original order kept
    rows = {tuple(r) for r in np.concatenate([xtr, xte])}
    assert len(np.unique(np.concatenate([xtr, xte]), axis=0)) == len(np.unique(x, axis=0)) == len(rows)
    again = train_test_split(x, y, 0.2, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip((xtr, ytr, xte, yte), again, strict=True))
    other = train_test_split(x, y, 0.2, seed=1)
    assert not np.array_equal(xte, other[2])


def test_standardize_uses_training_statistics_only():
    rng = np.random.default_rng(0)
    train = rng.normal(5.0, 3.0, size=(50, 3))
    train[:, 2] = 7.0  # a constant feature
    test = rng.normal(5.0, 3.0, size=(20, 3))
    s_train, s_test = standardize(train, test)
    assert np.allclose(s_train[:, :2].mean(axis=0), 0) and np.allclose(s_train[:, :2].std(axis=0), 1)
    assert np.all(s_train[:, 2] == 0)  # centred, not divided by 0
    expected = (test[:, :2] - train[:, :2].mean(axis=0)) / train[:, :2].std(axis=0)
    assert np.allclose(s_test[:, :2], expected)


def test_digits_spec_is_standardised_on_its_training_rows():
    spec = load_spec("digits")
    assert spec.x_train.shape == (1438, 64) and spec.x_test.shape == (359, 64)
    active = spec.x_train.std(axis=0) > 0
    assert np.allclose(spec.x_train.mean(axis=0), 0)
    assert np.allclose(spec.x_train.std(axis=0)[active], 1)
    assert not np.allclose(spec.x_test.mean(axis=0), 0)  # the test rows weren't used


def test_batches_cover_every_row_once_per_epoch():
    b = Batches(num_samples=10, batch_size=4, shuffle=True, seed=3)
    assert b.num_batches == 3 and not b.full_batch
    for epoch in range(5):
        batches = b(epoch)
        assert [len(r) for r in batches] == [4, 4, 2]
        assert sorted(np.concatenate(batches).tolist()) == list(range(10))
        assert np.array_equal(np.concatenate(batches), b.order(epoch))
    assert not np.array_equal(b.order(0), b.order(1))  # a new order each epoch
    assert np.array_equal(b.order(4), np.random.default_rng([3, 4]).permutation(10))
    assert b.orders(4).shape == (5, 10) and np.array_equal(b.orders(4)[2], b.order(2))


def test_batches_without_shuffle_and_full_batch():
    b = Batches(num_samples=7, batch_size=3)
    assert [r.tolist() for r in b(0)] == [[0, 1, 2], [3, 4, 5], [6]]
    full = Batches(num_samples=7, batch_size=7)
    assert full.full_batch and full.num_batches == 1 and full(5)[0].tolist() == list(range(7))


def test_spec_batches_follow_the_optimizer_fields():
    spec = load_spec("synthetic")
    b = spec.batches
    assert (b.num_samples, b.batch_size, b.shuffle, b.seed) == (384, 100, True, 0)
    assert load_spec("iris").batches.full_batch
    assert spec.replace(batch_size=None).batches.full_batch
