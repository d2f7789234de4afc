"""``softmax-rosetta specs --copy SPEC FILE``: a spec of your own, started from another (a bundled one).

The copy is SPEC's file with its comments and layout (edited with tomlkit), and with what no
longer holds for a new spec marked TO REDO:

- ``name`` is FILE's stem, and ``description`` says where the copy came from;
- ``[expected]``: ``costs`` emptied and ``source`` cleared, so that
  ``softmax-rosetta expected FILE --write`` fills them in (it never overwrites costs that came
  from elsewhere);
- each ``[tolerance.*]`` note says the numbers are SPEC's, measured on SPEC's workload: a
  starting point, to be measured again (docs/specs.md, "Writing your own");
- a comment at the top says all this.

FILE must end in ``.toml`` after a name of at least one character, must not exist (nothing is
ever overwritten), and must be printable text: a control character (a newline, an escape code),
an invisible one (a bidirectional override) or a byte that is not UTF-8 anywhere in the path is
refused, as it would be written into the copy's comments and the commands it prints.
"""

from __future__ import annotations

import os
import shlex
import tomllib
from pathlib import Path

import tomlkit

from softmax_rosetta.spec import SpecError, load_spec, spec_from_dict
from softmax_rosetta.spec_tables import check_name

from .expected import COMMAND, TO_REDO


def copy_spec(source: str, file: str) -> str:
    """Copy the spec ``source`` (a bundled name or a path) to the new file ``file``; return its name."""
    dest = Path(file)
    odd = next(((i, c) for i, c in enumerate(file) if not c.isprintable()), None)
    if odd:
        raise SpecError(
            f"specs --copy: the new file's path {file!r} has the character {odd[1]!r} at position {odd[0]}, "
            "which is not printable; give a plain file name"
        )
    if not file.endswith(".toml"):
        raise SpecError(f"specs --copy: the new file's name must end in .toml, got {file!r}")
    if dest.name == ".toml":
        raise SpecError(f"specs --copy: the new file's name is empty ({file!r}); give one such as my.toml")
    if dest.exists() or dest.is_symlink():
        raise SpecError(f"specs --copy: {file!r} already exists; not overwriting it")
    if not dest.parent.is_dir():
        raise SpecError(f"specs --copy: no such folder {str(dest.parent)!r}")
    name = check_name("name", dest.name.removesuffix(".toml"))
    spec = load_spec(source)
    text = _copied(Path(spec.path).read_text(encoding="utf-8"), spec.name, spec.description, name, file)
    spec_from_dict(tomllib.loads(text), path=file)  # the copy is a spec that loads
    try:
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        raise SpecError(f"specs --copy: {file!r} already exists; not overwriting it") from None
    except OSError as exc:
        raise SpecError(f"specs --copy: can't create {file!r}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
    except BaseException:
        os.unlink(file)
        raise
    return name


def _copied(text: str, old_name: str, old_description: str, name: str, file: str) -> str:
    """The spec file's text, renamed, with its stale parts marked TO REDO."""
    rerun = f"{COMMAND} {shlex.quote(file)} --write"
    doc = tomlkit.parse(text)
    doc["name"] = name
    doc["description"] = f"copied from the {old_name} spec: {old_description}".strip().rstrip(":")
    expected = doc.get("expected")
    if expected is not None:
        expected["source"] = ""
        expected["source"].comment(f"{TO_REDO}: {old_name}'s costs were removed; {rerun} computes this spec's")
        expected["costs"] = tomlkit.array()
    for dtype, tolerance in doc.get("tolerance", {}).items():
        tolerance["note"] = (
            f"{TO_REDO}: these are the {old_name} spec's {dtype} tolerances, measured on its workload; measure "
            f"this spec's: softmax-rosetta compare --spec {shlex.quote(file)} (docs/specs.md, 'Writing your own')"
        )
    header = (
        f"# {TO_REDO}: copied from the {old_name} spec by softmax-rosetta specs --copy. Its expected costs\n"
        f"# were removed ({rerun} computes this spec's); its tolerances,\n"
        f"# and the comments about them and about the costs, are {old_name}'s: measure this spec's, then\n"
        "# update them and delete this comment (docs/specs.md, 'Writing your own').\n"
    )
    return header + tomlkit.dumps(doc)
