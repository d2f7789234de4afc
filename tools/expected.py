"""A spec's expected cost trajectory: the float64 NumPy reference, written into the spec.

    softmax-rosetta expected iris            # print the [expected] values for the iris spec
    softmax-rosetta expected iris --write    # and write them into the iris spec's file
    softmax-rosetta expected my.toml --write # a file of your own

The NumPy backend in float64 is the reference: it is pure NumPy, the same on every machine
to within a few float64 ulps, and independent of the frameworks it checks. The costs at
epochs 0, every, 2*every, ... (every = the spec's expected.every, or a tenth of its epochs
where it gives none or more than its epochs) go into the spec with the command that made
them, so a regression in any backend shows as a difference from them.

The spec is read without its old expected costs (they are about to be replaced, and after a
change of epochs they no longer fit). The file is edited with tomlkit (its public API alone),
which keeps its comments and layout; the edited text is read back and must hold exactly the new
values and everything else unchanged, or the file is left as it was. A spec whose expected costs
came from elsewhere (the seed's are the lesson's own printout) is never overwritten.

The comment lines directly under the ``[expected]`` header (before its first key, with no blank
line between) say where the costs come from, as the bundled specs use them (seed.toml: "The costs
the lesson prints ..."): they are this command's. ``--write`` makes the first of them say what it
wrote (``source_note``) and removes the others; a table without such lines gets none, and a new
``[expected]`` table gets the one line. No other comment is touched: not one above the header, on
the header's line, after a blank line or after a key, nor a key's trailing comment (but the TO REDO
mark of ``specs --copy``, whose job is then done).

``--write`` also derives the spec's tolerances, ``[tolerance.derived.float32]`` and
``[tolerance.derived.float64]`` (tools/tolerances_write.py: the tables ``tolerances SPEC --write``
writes), in the same replace of the file: the spec was edited, so its envelopes must be derived for
it. Not with ``--no-derive``, nor for a spec that says ``[tolerance] use = "hand-set"``: its derived
tables, if any, are then left as they are.

The file stays the user's: its line endings are kept (a file whose every line ends in CRLF stays
CRLF throughout; in a file that mixes them, each line not rewritten keeps its own and the lines
written end in LF), and it is replaced by ``atomic_write``, which keeps its mode and owner and
writes through a symbolic link to the file it leads to.
"""

from __future__ import annotations

import shlex
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import tomlkit
from tomlkit.container import Container
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import Comment, Item, Key, Table

from softmax_rosetta.registry import REFERENCE_BACKEND, get_backend
from softmax_rosetta.spec import Spec, SpecError, read_spec, spec_from_dict

from .files import atomic_write, final_target

COMMAND = "softmax-rosetta expected"
KEYS = ("every", "source", "costs")
#: how ``specs --copy`` marks what a new spec must redo (tools/spec_copy.py)
TO_REDO = "TO REDO"
#: ``[tolerance] use = "hand-set"``: the spec is checked against its hand-set tolerances, not derived ones
HAND_SET = "hand-set"


def uses_hand_set(raw: dict[str, Any]) -> bool:
    """Whether the parsed spec says ``[tolerance] use = "hand-set"`` (then ``--write`` derives nothing)."""
    tolerance = raw.get("tolerance")
    return isinstance(tolerance, dict) and tolerance.get("use") == HAND_SET


def rederives(raw: dict[str, Any], no_derive: bool = False) -> bool:
    """Whether ``expected --write`` derives the spec's ``[tolerance.derived.*]`` again: unless ``--no-derive``
    or the spec uses its hand-set tolerances."""
    return not no_derive and not uses_hand_set(raw)


def load_for_writing(name_or_path: str | Path, *, derived: bool = False) -> tuple[Spec, dict[str, Any]]:
    """(the spec, its file's parsed TOML), the spec read without its old [expected] costs; with ``derived``,
    without its old ``[tolerance.derived.*]`` too where they are to be derived again (``rederives``): after
    an edit they may no longer load (derived for other epochs), and they are about to be replaced."""
    path, raw = read_spec(name_or_path)
    expected = raw.get("expected")
    if isinstance(expected, dict):
        raw = {**raw, "expected": {k: v for k, v in expected.items() if k != "costs"}}
    if derived and rederives(raw):
        raw = without_derived(raw)
    return spec_from_dict(raw, path=path), raw


def without_derived(raw: dict[str, Any]) -> dict[str, Any]:
    """The parsed spec without its ``[tolerance.derived.*]`` tables (stored envelopes play no part in deriving)."""
    tolerance = raw.get("tolerance")
    if isinstance(tolerance, dict) and "derived" in tolerance:
        return {**raw, "tolerance": {k: v for k, v in tolerance.items() if k != "derived"}}
    return raw


def every_for(spec: Spec, raw: dict[str, Any]) -> int:
    """The spec's expected.every; a tenth of its epochs (at least 1) where it gives none, or one
    beyond its epochs (left from before the epochs changed: it would keep the cost at epoch 0 alone)."""
    given = raw.get("expected", {}).get("every")
    if given is not None and (spec.expected_every <= spec.epochs or spec.epochs == 0):
        return spec.expected_every
    return max(1, spec.epochs // 10)


def reference_costs(spec: Spec, every: int) -> list[float]:
    """The float64 NumPy run's costs at epochs 0, every, 2*every, ... up to the spec's epochs."""
    result = get_backend(REFERENCE_BACKEND, dtype="float64").train(spec)
    return [float(c) for c in result.costs[::every]]


def source_for(name_or_path: str) -> str:
    """expected.source: the command that reruns this, with the spec as it was given."""
    return f"{COMMAND} {shlex.quote(name_or_path)} --write (the NumPy backend in float64, numpy {np.__version__})"


def source_note(every: int, count: int) -> str:
    """The comment ``--write`` puts directly under the ``[expected]`` header: what the costs are."""
    epochs = [every * i for i in range(count)]
    at = ", ".join(map(str, epochs)) if count <= 3 else f"{epochs[0]}, {epochs[1]}, ..., {epochs[-1]}"
    epochs_at = f"epoch{'s' * (count != 1)} {at}"
    return f"# The float64 NumPy reference's costs at {epochs_at} (source: the command that wrote them)."


def expected_table(every: int, source: str, costs: list[float], per_line: int = 4) -> str:
    """The lines of the [expected] table, costs written in full (repr: they read back exactly)."""
    rows = [", ".join(repr(c) for c in costs[i : i + per_line]) for i in range(0, len(costs), per_line)]
    return (
        f"every = {every}\nsource = {tomlkit.string(source).as_string()}\ncosts = [" + ",\n         ".join(rows) + "]\n"
    )


def check_writable(path: str | Path, raw: dict[str, Any]) -> None:
    """SpecError unless the file's expected costs are this command's own, or it has none (empty source)."""
    source = str(raw.get("expected", {}).get("source", "")).strip()
    if source and not source.startswith(f"{COMMAND} "):
        raise SpecError(
            f"expected.source: the expected costs in {str(path)!r} come from {source!r}; not overwriting them"
        )


def write_expected(
    path: str | Path, every: int, source: str, costs: list[float], derived: dict[str, dict[str, Any]] | None = None
) -> None:
    """Set the file's expected every, source and costs, and with ``derived`` ({dtype: table}) its
    ``[tolerance.derived.DTYPE]`` tables (tools/tolerances_write.py), in one replace of the file,
    keeping everything else as it is.

    SpecError, and the file untouched, where its expected costs come from elsewhere or the
    edit can't be made and read back exactly, or written.
    """
    from .tolerances_write import edit_derived, with_derived  # it imports this module

    raw = Path(path).read_bytes().decode("utf-8")  # bytes: reading text would turn CRLF into LF
    crlf = "\r\n" in raw and "\n" not in raw.replace("\r\n", "")  # every line ends in CRLF
    text = raw.replace("\r\n", "\n") if crlf else raw
    old = tomllib.loads(text)
    check_writable(path, old)
    want = {**old, "expected": {**old.get("expected", {}), "every": every, "source": source, "costs": costs}}
    if derived:
        want = with_derived(want, derived)
    problem = ""
    for per_line in (4, len(costs) or 1):  # an inline table can't span lines: then all on one
        try:
            new = _edited(
                text, every, source, expected_table(every, source, costs, per_line), source_note(every, len(costs))
            )
            if derived:
                new = edit_derived(new, derived)
        except (TOMLKitError, ValueError, KeyError, TypeError) as exc:
            problem = f"tomlkit can't edit it ({exc})"
            continue
        try:
            if tomllib.loads(new) == want:
                replace_spec_file(path, new.replace("\n", "\r\n") if crlf else new, "expected")
                return
            problem = "the edited file would read back differently"
        except tomllib.TOMLDecodeError as exc:
            problem = f"the edited file would not be valid TOML ({exc})"
    hint = " (--no-derive writes the costs alone)" if derived else ""
    raise SpecError(
        f"expected: can't write into {str(path)!r} keeping its layout: {problem}; the file is unchanged{hint}"
    )


def replace_spec_file(path: str | Path, text: str, field: str) -> None:
    """Replace a spec file, its mode, owner and symbolic links kept (``atomic_write``); SpecError naming
    ``field`` (the part of the spec being written) if it can't be."""
    try:
        atomic_write(path, text)
    except OSError as exc:
        target = final_target(path)
        where = f" (through the link to {target!r})" if target != str(path) else ""
        raise SpecError(
            f"{field}: can't write {str(path)!r}{where}: {exc.strerror or exc}; the file is unchanged "
            "(it is replaced by a new file in its folder, which must be writable)"
        ) from None


def _edited(text: str, every: int, source: str, table: str, note: str = "") -> str:
    """The file's text with the [expected] keys set and its source comment (``note``) rewritten, the other
    comments and the layout kept (tomlkit)."""
    doc = tomlkit.parse(text)
    new = tomlkit.parse(table)
    if "expected" not in doc:
        expected = tomlkit.table()
        if note:
            expected.add(tomlkit.comment(note.removeprefix("# ")))
        for key in KEYS:
            expected[key] = new[key]
        doc["expected"] = expected
        return tomlkit.dumps(doc)
    expected = doc["expected"]
    if isinstance(expected, Table) and note:
        _rewrite_source_comment(expected, note)
    if isinstance(expected, Table) and any(key not in expected for key in KEYS):
        expected = doc["expected"] = _with_keys(expected, [key for key in KEYS if key not in expected])
    for key in KEYS:
        expected[key] = new[key]  # in place: its line keeps its trailing comment
        trivia = getattr(expected[key], "trivia", None)
        if trivia is not None and trivia.comment.lstrip("# ").startswith(TO_REDO):  # specs --copy's mark: done
            trivia.comment = trivia.comment_ws = ""
    return tomlkit.dumps(doc)


def _rewrite_source_comment(table: Table, note: str) -> None:
    """The comment lines directly under the table's header (before its first key, no blank line between):
    the first says ``note`` (its indent and line ending kept), the others are emptied; none, none added."""
    owned = []
    for key, item in table.value.body:
        if key is not None or not isinstance(item, Comment):
            break
        owned.append(item)
    for i, item in enumerate(owned):
        if i == 0:
            item.trivia.comment = note
        else:  # a Comment item is its indent, its text and its line ending: all three gone, the line is
            item.trivia.indent = item.trivia.comment = item.trivia.trail = ""


def _with_keys(table: Table, missing: list[str]) -> Table:
    """A copy of ``table`` (its header, keys, comments and blank lines in order) with a placeholder for each
    missing key of KEYS: right after the key before it in KEYS, or first; not after the table's trailing
    comments, which are about what follows. tomlkit's public API inserts only at the end: so a new table."""
    body: list[tuple[Key | None, Item]] = list(table.value.body)
    for key in missing:
        before = KEYS[: KEYS.index(key)]
        at = max((i + 1 for i, (k, _) in enumerate(body) if k is not None and k.key in before), default=0)
        body.insert(at, (tomlkit.key(key), tomlkit.item(0)))  # a placeholder: its value is set next
    container = Container()
    for name, item in body:
        if name is None:
            container.add(item)  # a comment or a blank line
        else:
            container.add(name, item)
    return Table(
        container, table.trivia, table.is_aot_element(), table.is_super_table(), display_name=table.display_name
    )
