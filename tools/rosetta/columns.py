"""What each column's backend says the docs show of it: the ``docs.toml`` beside its module
(``softmax_rosetta.registry.backend_docs``; docs/backends.md, "Its column in the docs").

The generator knows the concepts, the lesson's steps and the words around them; a backend knows its own
code, its notes, its notebook's dialect, its plot style and the lesson's one-line formulas in its framework.
Here they are read, once per backend, and checked, so that an error names the backend's file:

- ``[concepts.KEY]``: ``code``, the pieces of its code the concept shows (``"module:name"``, or
  ``{ target = "module:name", lines = [first, last] }`` for a few lines of one), ``note`` and ``ko``, its
  paragraph under "What differs" in English and in Korean;
- ``[notebook]``: ``import_xp``, ``xp``, ``array``, ``float32``, ``import_one_line``, and ``show_array``
  where its ``print`` of an array leaves elements out;
- ``[plot]``: ``line`` and ``marker`` (matplotlib's keywords), and ``[plot.runs.VARIANT]`` for another of its
  runs the loss plot draws (``label``, ``line``, ``marker``);
- ``[formulas]``: lesson step -> the lesson's one line in its framework.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from softmax_rosetta.checks import BackendError
from softmax_rosetta.registry import BACKENDS, backend_docs

from .base import RosettaError
from .refs import Ref

DIALECT_KEYS = ("import_xp", "xp", "array", "float32", "import_one_line")


@cache
def docs(backend: str) -> dict[str, Any]:
    """Backend ``backend``'s docs.toml, as read ({} where it has none)."""
    try:
        return backend_docs(backend)
    except BackendError as exc:
        raise RosettaError(f"rosetta: {exc}") from None


def _where(backend: str) -> str:
    return f"backend {backend!r}'s docs.toml ({BACKENDS[backend].module.rpartition('.')[0]})"


def _field(backend: str, table: str, key: str) -> Any:
    found = docs(backend).get(table, {})
    if not isinstance(found, dict) or key not in found:
        raise RosettaError(f"rosetta: {_where(backend)} has no [{table}] {key}")
    return found[key]


def code(backend: str, concept: str) -> tuple[Ref | str, ...]:
    """The pieces of the backend's code that ``concept`` shows, in order."""
    entry = _field(backend, "concepts", concept)
    pieces = entry.get("code") if isinstance(entry, dict) else None
    if not isinstance(pieces, list) or not pieces:
        raise RosettaError(f"rosetta: {_where(backend)}: [concepts.{concept}] needs code = [...], at least one piece")
    out: list[Ref | str] = []
    for piece in pieces:
        if isinstance(piece, str):
            out.append(piece)
        elif isinstance(piece, dict) and isinstance(piece.get("target"), str) and _pair(piece.get("lines")):
            out.append(Ref(piece["target"], (piece["lines"][0], piece["lines"][1])))
        else:
            raise RosettaError(
                f"rosetta: {_where(backend)}: [concepts.{concept}] code has {piece!r}: a piece is "
                '"module:name" or { target = "module:name", lines = ["first", "last"] }'
            )
    return tuple(out)


def _pair(lines: object) -> bool:
    return isinstance(lines, list) and len(lines) == 2 and all(isinstance(s, str) and s for s in lines)


def note(backend: str, concept: str, lang: str) -> str:
    """The backend's paragraph under the concept's "What differs", in ``lang`` ("" where it has none)."""
    entry = _field(backend, "concepts", concept)
    key = "note" if lang == "en" else lang
    value = entry.get(key, "") if isinstance(entry, dict) else ""
    if not isinstance(value, str):
        raise RosettaError(f"rosetta: {_where(backend)}: [concepts.{concept}] {key} is not text")
    if lang != "en" and bool(value.strip()) != bool(str(entry.get("note", "")).strip()):
        raise RosettaError(
            f"rosetta: {_where(backend)}: [concepts.{concept}] has a note without its {lang} or the reverse"
        )
    return value.strip()


def dialect(backend: str) -> dict[str, str]:
    """How the backend's notebook imports its framework and makes arrays."""
    return {key: str(_field(backend, "notebook", key)) for key in DIALECT_KEYS}


def show_array(backend: str) -> str:
    """How a notebook cell prints an array in full: ``[notebook] show_array``, a template of ``{}`` (the
    array's name); "{}" where the framework prints every element itself."""
    value = docs(backend).get("notebook", {}).get("show_array", "{}")
    if not isinstance(value, str) or value.count("{}") != 1:
        raise RosettaError(f"rosetta: {_where(backend)}: [notebook] show_array must hold one {{}}, not {value!r}")
    return value


def formula(backend: str, step: str) -> str:
    """The lesson's one line of ``step`` in the backend's framework."""
    return str(_field(backend, "formulas", step))


def _style(value: object) -> dict[str, Any]:
    """matplotlib's keywords from TOML, whose arrays are lists: a dash pattern is a tuple there."""
    if not isinstance(value, dict):
        return {}
    return {k: _tuples(v) for k, v in value.items()}


def _tuples(value: object) -> object:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def plot_style(backend: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The backend's (line, marker) in the loss plot."""
    found = docs(backend).get("plot", {})
    return _style(found.get("line")), _style(found.get("marker"))


def plotted_runs(backend: str) -> dict[str, tuple[str, dict[str, Any], dict[str, Any]]]:
    """The backend's other runs the loss plot draws: variant -> (label, line, marker)."""
    runs = docs(backend).get("plot", {}).get("runs", {})
    return {
        variant: (str(run.get("label", f"{backend}, {variant}")), _style(run.get("line")), _style(run.get("marker")))
        for variant, run in runs.items()
    }
