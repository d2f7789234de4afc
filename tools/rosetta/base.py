"""What every part of the docs generator shares: the columns, the run's dtype, the error."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from softmax_rosetta.checks import BackendError
from softmax_rosetta.registry import BACKENDS, backend_docs, declared_text


def _has_column(name: str) -> bool:
    """Whether the docs show backend ``name``: its docs.toml (columns.py) places its code in the concepts,
    and its class doesn't declare ``docs_column_pending`` (why its column isn't written yet). A plugin's
    backend joins the columns the same way. A docs.toml that isn't TOML is reported when it is read."""
    try:
        placed = bool(backend_docs(name).get("concepts"))
    except BackendError:
        placed = True  # columns.docs() says what is wrong with it
    return placed and declared_text(name, "docs_column_pending") is None


# The columns, left to right, in the registry's order.
ORDER = tuple(name for name in BACKENDS if _has_column(name))


class _BackendFacts(Mapping[str, str]):
    """{backend: one of its class's facts} for the columns, read from each ``Backend`` class's source when
    asked, importing no framework: the code and text of the docs are checked where torch or JAX is missing."""

    def __init__(self, attribute: str):
        self.attribute = attribute

    def __getitem__(self, name: str) -> str:
        if name not in ORDER:
            raise KeyError(name)
        value = declared_text(name, self.attribute)
        if value is None:
            raise KeyError(f"{name}: its Backend class doesn't write {self.attribute} as a string")
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(ORDER)

    def __len__(self) -> int:
        return len(ORDER)


TITLES: Mapping[str, str] = _BackendFacts("title")  # each column's title: Backend.title
SHORT: Mapping[str, str] = _BackendFacts("display_name")  # the framework's name in tables: Backend.display_name
FILES = ("rosetta.md", "rosetta.html", "lesson.md", "ko/rosetta.html", "ko/lesson.md")
SPEC = "seed"
DTYPE = "float32"
DIGITS = 6  # significant digits of every number in the docs


class RosettaError(Exception):
    """The concept table names code that isn't there, or the docs can't be generated."""


# Where the concept table is, as the docs and the error messages name it (relative to the repository).
TABLE_FILE = "tools/rosetta/concepts.py"
# What the generated files say they come from: the concept table, and each backend's docs.toml (columns.py).
SOURCES = f"{TABLE_FILE}, backends/*/docs.toml"
