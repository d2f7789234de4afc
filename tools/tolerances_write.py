"""``tolerances SPEC --write``: the derived envelopes into the spec file, as ``[tolerance.derived.DTYPE]``.

Edited as ``expected --write`` edits (tools/expected.py): tomlkit's public API, the file's comments,
layout and line endings kept, the edited text read back and required to hold exactly the new tables
and everything else unchanged, then ``atomic_write`` (mode, owner and symbolic links kept); else
one SpecError and the file untouched. common/spec_derived.py reads the tables back.

``expected SPEC --write`` derives them too (``derived_for``), and writes them with its costs in one
replace of the file (tools/expected.py's ``write_expected``, through ``edit_derived`` and
``with_derived``): an edited spec gets tolerances derived for it, with no hand-tuning.
"""

from __future__ import annotations

import shlex
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import Table

from softmax_rosetta.spec import DTYPES, Spec, SpecError
from softmax_rosetta.tolerances import SAMPLES, SEED, derive

from .expected import replace_spec_file

COMMAND = "softmax-rosetta tolerances"


def source_for(name_or_path: str, samples: int, seed: int, safety: float) -> str:
    """The table's source: the command that reruns it, and what it used."""
    return (
        f"{COMMAND} {shlex.quote(name_or_path)} --write ({samples} perturbed runs, seed {seed}, "
        f"safety factor {safety:g}, numpy {np.__version__})"
    )


def derived_for(spec: Spec, name_or_path: str, samples: int = SAMPLES, seed: int = SEED) -> dict[str, dict[str, Any]]:
    """{dtype: its ``[tolerance.derived.DTYPE]`` table} for every dtype (``Envelope.table``), the source naming
    ``name_or_path`` as given; SpecError (one line) where the float64 reference diverges."""
    out = {}
    for dtype in DTYPES:
        envelope = derive(spec, dtype, samples=samples, seed=seed)
        out[dtype] = envelope.table(source_for(name_or_path, samples, seed, envelope.safety))
    return out


def with_derived(old: dict[str, Any], tables: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``old`` (a parsed spec) with ``tables`` as its ``tolerance.derived``'s dtypes: what the edit reads back as."""
    tolerance = old.get("tolerance", {})
    return {**old, "tolerance": {**tolerance, "derived": {**tolerance.get("derived", {}), **tables}}}


def write_derived(path: str | Path, tables: dict[str, dict[str, Any]]) -> None:
    """Set ``[tolerance.derived.DTYPE]`` for each dtype in ``tables``, keeping everything else as it is."""
    raw = Path(path).read_bytes().decode("utf-8")  # bytes: reading text would turn CRLF into LF
    crlf = "\r\n" in raw and "\n" not in raw.replace("\r\n", "")
    text = raw.replace("\r\n", "\n") if crlf else raw
    want = with_derived(tomllib.loads(text), tables)
    try:
        new = edit_derived(text, tables)
        problem = "" if tomllib.loads(new) == want else "the edited file would read back differently"
    except (TOMLKitError, ValueError, KeyError, TypeError, tomllib.TOMLDecodeError) as exc:
        problem = f"tomlkit can't edit it ({exc})"
    if problem:
        raise SpecError(f"tolerance.derived: can't write into {str(path)!r} keeping its layout: {problem}; unchanged")
    replace_spec_file(path, new.replace("\n", "\r\n") if crlf else new, "tolerance.derived")


def edit_derived(text: str, tables: dict[str, dict[str, Any]]) -> str:
    """The spec file's text with ``[tolerance.derived.DTYPE]`` set for each dtype in ``tables`` (tomlkit: a new
    table after the file's last line, an existing one replaced in place), everything else as it was."""
    doc = tomlkit.parse(text)
    tolerance = doc["tolerance"]
    if not isinstance(tolerance, Table):
        raise ValueError("[tolerance] is not a table")
    if "derived" not in tolerance:
        tolerance.append("derived", tomlkit.table(True))
    derived = tolerance["derived"]
    if not isinstance(derived, Table):
        raise ValueError("tolerance.derived is not a table")
    for dtype, values in tables.items():
        table = tomlkit.table()
        for key, value in values.items():
            if isinstance(value, list):
                array = tomlkit.array()
                array.extend(value)
                table.add(key, array)
            else:
                table.add(key, value)
        derived[dtype] = table
    return tomlkit.dumps(doc)
