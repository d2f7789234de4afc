"""The lesson's small examples (common/data/lesson_examples.toml) in every backend: its printouts, to its 4 decimals."""

import numpy as np
import pytest

from softmax_rosetta.checks import LEVELS
from softmax_rosetta.examples import DECIMALS, lesson_examples
from softmax_rosetta.testing import DTYPES, require_dtype, selected_backends

SOFTMAX, CROSS_ENTROPY = lesson_examples()


def printed(values: np.ndarray) -> np.ndarray:
    """As the lesson's torch printed them: rounded to 4 decimals (from float64, so no second rounding)."""
    return np.round(np.asarray(values, dtype=np.float64), DECIMALS)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", selected_backends())
def test_softmax_of_1_2_3_prints_the_lessons_numbers(name, dtype):
    backend = require_dtype(name, dtype)(dtype=dtype)
    p = backend.softmax(SOFTMAX.scores.astype(dtype))
    np.testing.assert_array_equal(printed(p), SOFTMAX.printed)
    assert printed(p.sum()) == 1.0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", selected_backends())
def test_the_cross_entropy_example_prints_the_lessons_numbers_at_every_level(name, dtype):
    backend = require_dtype(name, dtype)(dtype=dtype)
    z = CROSS_ENTROPY.scores.astype(dtype)
    np.testing.assert_array_equal(printed(backend.softmax(z, axis=1)), CROSS_ENTROPY.printed_softmax)
    np.testing.assert_array_equal(printed(backend.log_softmax(z, axis=1)), CROSS_ENTROPY.printed_log_softmax)
    for level in LEVELS:
        cost = backend.cross_entropy(z, CROSS_ENTROPY.targets, level=level)
        assert printed(cost) == CROSS_ENTROPY.printed_cost, level


def test_the_stored_scores_are_what_the_file_says_they_are():
    """Each row holds log-probabilities (its exponentials sum to 1 within the 5 decimals' rounding), and the
    targets are the lesson's; scores that fit the printouts must not be fitted to the cost too."""
    assert CROSS_ENTROPY.scores.shape == (3, 5) and CROSS_ENTROPY.targets.tolist() == [4, 2, 3]
    np.testing.assert_allclose(np.exp(CROSS_ENTROPY.scores).sum(axis=1), 1.0, atol=3e-5)
    rows = np.arange(3)
    # the cost from the printed log_softmax alone (what a reader can check by hand) rounds to the same
    assert printed(-CROSS_ENTROPY.printed_log_softmax[rows, CROSS_ENTROPY.targets].mean()) == 1.8803
    assert not CROSS_ENTROPY.scores.flags.writeable
