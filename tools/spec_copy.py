"""``softmax-rosetta specs --copy SPEC FILE``: a spec of your own, started from another (a bundled one).

The copy is SPEC's file with its comments and layout (edited with tomlkit), and with what no
longer holds for a new spec marked TO REDO:

- ``name`` is FILE's stem, and ``description`` says where the copy came from;
- ``[expected]``: ``costs`` emptied and ``source`` cleared, so that
  ``softmax-rosetta expected FILE --write`` fills them in (it never overwrites costs that came
  from elsewhere);
- ``[tolerance.derived.*]`` (SPEC's envelopes, derived for SPEC's workload) are removed: the copy's
  are derived for it, after its edit, by ``softmax-rosetta expected FILE --write``, with its costs
  (deriving them here would take seconds, for tables the edit makes stale);
- each hand-set ``[tolerance.float32]``/``[tolerance.float64]`` note says the numbers are SPEC's,
  measured on SPEC's workload: a fallback (or, where SPEC says ``[tolerance] use = "hand-set"``,
  a starting point to be measured again; docs/specs.md, "Writing your own");
- a comment at the top says all this.

FILE must end in ``.toml`` after a name of at least one character, must not exist (nothing is
ever overwritten), and must be printable text: a control character (a newline, an escape code),
an invisible one (a bidirectional override) or a byte that is not UTF-8 anywhere in the path is
refused, as it would be written into the copy's comments and the commands it prints.
"""

from __future__ import annotations

import os
import shlex
import textwrap
import tomllib
from pathlib import Path

import tomlkit

from softmax_rosetta.spec import DTYPES, SpecError, load_spec, spec_from_dict
from softmax_rosetta.spec_tables import check_name

from .expected import COMMAND, HAND_SET, TO_REDO


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
    """The spec file's text, renamed, with its stale parts marked TO REDO and its derived tolerances removed."""
    rerun = f"{COMMAND} {shlex.quote(file)} --write"
    doc = tomlkit.parse(text)
    doc["name"] = name
    doc["description"] = f"copied from the {old_name} spec: {old_description}".strip().rstrip(":")
    expected = doc.get("expected")
    if expected is not None:
        expected["source"] = ""
        expected["source"].comment(f"{TO_REDO}: {old_name}'s costs were removed; {rerun} computes this spec's")
        expected["costs"] = tomlkit.array()
    tolerance = doc.get("tolerance", {})
    hand_set = tolerance.get("use") == HAND_SET
    dropped = "derived" in tolerance
    if dropped:  # derived for the old spec's workload: the copy's are derived for it (expected --write)
        del tolerance["derived"]
    for dtype in DTYPES:
        if dtype in tolerance:
            tolerance[dtype]["note"] = (
                f"{TO_REDO}: these are the {old_name} spec's {dtype} tolerances, measured on its workload; "
                + (
                    f"measure this spec's: softmax-rosetta compare --spec {shlex.quote(file)}"
                    if hand_set
                    else f"a fallback: {rerun} derives this spec's, which compare checks against"
                )
                + " (docs/specs.md, 'Writing your own')"
            )
    removed = "Its expected costs and derived tolerances were removed" if dropped else "Its expected costs were removed"
    if hand_set:
        rest = (
            f' ({rerun} computes this spec\'s costs); its tolerances (hand-set: [tolerance] use = "{HAND_SET}"), and '
            f"the comments about them and about the costs, are {old_name}'s: measure this spec's, then update them"
        )
    else:
        rest = (
            f": after your edits, {rerun} computes this spec's costs and derives its tolerances "
            f"([tolerance.derived.*], what compare checks against). Its hand-set tolerances, and the comments about "
            f"them and about the costs, are {old_name}'s, kept as a fallback: measure this spec's if you use them"
        )
    paragraph = (
        f"{TO_REDO}: copied from the {old_name} spec by softmax-rosetta specs --copy. {removed}{rest}, then "
        "delete this comment (docs/specs.md, 'Writing your own')."
    )
    lines = textwrap.wrap(paragraph, width=100, break_long_words=False, break_on_hyphens=False)
    header = "".join(f"# {line}\n" for line in lines)
    body = tomlkit.dumps(doc)
    return header + (body.rstrip("\n") + "\n" if dropped else body)
