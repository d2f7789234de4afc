"""What every part of the docs generator shares: the columns, the run's dtype, the error."""

from __future__ import annotations

ORDER = ("numpy", "torch", "jax")  # the columns, left to right
TITLES = {"numpy": "NumPy", "torch": "PyTorch", "jax": "JAX / Flax NNX / Optax"}
SHORT = {"numpy": "NumPy", "torch": "PyTorch", "jax": "JAX"}
FILES = ("rosetta.md", "rosetta.html", "lesson.md", "ko/lesson.md")
SPEC = "seed"
DTYPE = "float32"
DIGITS = 6  # significant digits of every number in the docs


class RosettaError(Exception):
    """The concept table names code that isn't there, or the docs can't be generated."""


# Where the concept table is, as the docs and the error messages name it (relative to the repository).
TABLE_FILE = "tools/rosetta/concepts.py"
