"""The data every backend trains on, made once here in NumPy and handed to each backend as arrays.

- ``load_dataset("iris" | "digits")``: the real data sets shipped in ``common/data/`` (sources and
  licences in ``common/data/README.md``); nothing is downloaded.
- ``synthetic(samples, features, classes, seed, separation)``: Gaussian blobs of any size.
- ``train_test_split`` and ``standardize``: the seeded split and the optional feature scaling.
- ``Batches``: which rows each SGD step uses, epoch by epoch, so that every backend sees the same
  batches in the same order; no backend draws its own random numbers.
- ``shard``: one worker's share of some rows, for data-parallel training (docs/distributed.md);
  ``load_dataset`` and ``synthetic`` take ``rank`` and ``world_size`` and then make only that
  worker's rows, so that no process need hold the whole data set.

Shapes: x (N, D) float64, y (N,) int64 class indices in [0, C).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

DATA_DIR = Path(__file__).parent / "data"
DATASETS = {"iris": "iris.csv", "digits": "digits.csv.gz"}
SOURCES = (*DATASETS, "synthetic")


def shard_bounds(num_rows: int, rank: int, world_size: int) -> tuple[int, int]:
    """Worker ``rank``'s rows of ``num_rows``, as [start, stop): consecutive blocks in rank order,
    the first ``num_rows % world_size`` blocks one row longer (``numpy.array_split``'s split)."""
    if not (isinstance(world_size, int) and world_size >= 1):
        raise ValueError(f"world_size: expected an integer >= 1, got {world_size!r}")
    if not (isinstance(rank, int) and 0 <= rank < world_size):
        raise ValueError(f"rank: expected an integer in [0, {world_size}), got {rank!r}")
    size, extra = divmod(num_rows, world_size)
    start = rank * size + min(rank, extra)
    return start, start + size + (rank < extra)


def shard(rows: np.ndarray, rank: int, world_size: int) -> np.ndarray:
    """Worker ``rank``'s share of ``rows`` (a batch's row indices, or any array's leading axis):
    its consecutive block, as ``shard_bounds`` gives it. The shards of the ranks 0..world_size-1,
    concatenated, are ``rows``."""
    start, stop = shard_bounds(len(rows), rank, world_size)
    return rows[start:stop]


def load_dataset(name: str, rank: int = 0, world_size: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """A shipped data set as (x (N, D) float64, y (N,) int64), read-only, in the file's row order.

    iris: 150 x 4, 3 classes; digits: 1797 x 64, 10 classes. The last column of each file is
    the label. With ``world_size`` > 1, only worker ``rank``'s rows (``shard``): the file is read
    twice, once to count its rows and once to parse that worker's, and no other row is kept.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(DATASETS)}")
    return _load(name, rank, world_size)


def _rows(path: Path) -> Iterator[str]:
    """The file's data lines: after the ``#`` comments and the line that names the columns."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        lines = (line for line in f if not line.startswith("#"))
        next(lines, None)  # the columns' names
        yield from lines


@cache
def _load(name: str, rank: int, world_size: int) -> tuple[np.ndarray, np.ndarray]:
    path = DATA_DIR / DATASETS[name]
    start, stop = shard_bounds(sum(1 for _ in _rows(path)), rank, world_size)
    lines = [line for i, line in enumerate(_rows(path)) if start <= i < stop]
    # numbers, the label last
    table = np.loadtxt(lines, delimiter=",", dtype=np.float64, ndmin=2)
    x, y = table[:, :-1], table[:, -1].astype(np.int64)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def synthetic(
    samples: int,
    features: int,
    classes: int,
    seed: int = 0,
    separation: float = 3.0,
    *,
    rank: int = 0,
    world_size: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian blobs: class k's rows are centre_k + N(0, I), as (x (N, D), y (N,)).

    The centres are drawn from N(0, separation^2 / (2 D) I), so the root-mean-square distance
    between two centres is ``separation`` (in units of the within-class standard deviation, 1)
    whatever D is: about 1 overlaps heavily, about 5 is nearly separable. Labels are balanced
    (row i has class i mod C before shuffling). Everything comes from one
    ``numpy.random.default_rng(seed)``, drawn in this order: centres, label order, noise.

    With ``world_size`` > 1, only worker ``rank``'s rows (``shard``), the same values as those
    rows of the whole set: the noise of the rows before them is drawn and dropped a block at a
    time, so memory stays that of the worker's rows (the labels' order, N integers, is drawn whole).
    """
    start, stop = shard_bounds(samples, rank, world_size)
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, separation / np.sqrt(2.0 * features), size=(classes, features))
    y = rng.permutation(np.arange(samples) % classes).astype(np.int64)[start:stop]
    skip = start * features  # the noise is drawn row after row: skip the earlier rows' values
    while skip:
        skip -= rng.standard_normal(min(skip, 1 << 20)).size
    x = centres[y] + rng.standard_normal((stop - start, features))
    return x, y


def train_test_split(
    x: np.ndarray, y: np.ndarray, test_fraction: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A stratified split: (x_train, y_train, x_test, y_test), rows kept in their original order.

    From each class, round(test_fraction * class size) rows go to the test set, picked by one
    ``numpy.random.default_rng(seed)`` that permutes each class's row indices in turn, classes
    in increasing order. So the split is the same on every machine and every backend.
    """
    rng = np.random.default_rng(seed)
    test: list[int] = []
    for k in np.unique(y):
        rows = np.flatnonzero(y == k)
        test.extend(rng.permutation(rows)[: int(round(test_fraction * rows.size))])
    is_test = np.zeros(y.shape[0], dtype=bool)
    is_test[test] = True
    return x[~is_test], y[~is_test], x[is_test], y[is_test]


def standardize(x_train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """(x - mean) / std per feature, with mean and std from the training rows only.

    The standard deviation is the population one (ddof 0); a feature constant on the training
    rows (the digits' always-blank corner pixels) is only centred: dividing by 0 would make NaN.
    Returns the training rows and each of ``others`` scaled with the same statistics.

    Each feature is first divided by the power of two at or above its largest magnitude on the
    training rows, so the sums behind the mean and the standard deviation can't overflow, even
    for values near the float64 limit. Dividing by a power of two is exact, so the result is
    bit for bit the direct formula's wherever that one doesn't overflow. A test row far outside
    the training rows' range can still overflow: the caller checks the result is finite.
    """
    _, exponent = np.frexp(np.max(np.abs(x_train), axis=0))  # max |x| = m * 2**exponent, m in [0.5, 1)
    scale = np.ldexp(1.0, exponent - 1)  # a power of two <= max |x| (0.5 for a feature of zeros)
    with np.errstate(over="ignore"):  # a test row's overflow shows as inf: the caller checks
        mean = (x_train / scale).mean(axis=0)
        std = (x_train / scale).std(axis=0)
        varies = std > 0
        return [
            np.where(varies, (a / scale - mean) / np.where(varies, std, 1.0), a - mean * scale)
            for a in (x_train, *others)
        ]


@dataclass(frozen=True)
class Batches:
    """Which training rows each SGD step uses, epoch by epoch; the same for every backend.

    ``batches(epoch)`` is a list of (B,) int64 row indices, one per step, covering all N rows
    once; the last batch is shorter when B doesn't divide N (as torch's DataLoader with
    drop_last=False). Without shuffling the rows keep their order; with it, epoch ``e`` uses
    ``numpy.random.default_rng([seed, e]).permutation(N)``, so any epoch's order can be
    computed on its own, in any language that has NumPy's SeedSequence and PCG64.
    A batch_size >= N is full batch: one step per epoch on every row.
    """

    num_samples: int
    batch_size: int
    shuffle: bool = False
    seed: int = 0

    @property
    def full_batch(self) -> bool:
        return self.batch_size >= self.num_samples

    @property
    def num_batches(self) -> int:
        """Steps per epoch: ceil(N / B)."""
        return -(-self.num_samples // self.batch_size)

    def order(self, epoch: int) -> np.ndarray:
        """(N,) the rows in this epoch's order."""
        if not self.shuffle:
            return np.arange(self.num_samples, dtype=np.int64)
        return np.random.default_rng([self.seed, epoch]).permutation(self.num_samples)

    def __call__(self, epoch: int) -> list[np.ndarray]:
        order = self.order(epoch)
        return [order[i : i + self.batch_size] for i in range(0, self.num_samples, self.batch_size)]

    def orders(self, epochs: int) -> np.ndarray:
        """(epochs + 1, N) int32: every epoch's order at once, for a loop compiled ahead (JAX's
        lax.scan). (epochs + 1) * N * 4 bytes."""
        return np.stack([self.order(e) for e in range(epochs + 1)]).astype(np.int32)
