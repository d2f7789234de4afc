"""A backend's declared deviations: the conformance checks it knowingly fails, each with its reason.

The file is TOML, named by the backend class's ``deviations`` attribute (relative to the folder of the
module that defines the class), shipped with the backend's package:

    [[deviation]]
    check = "cross_entropy:fused"        # a check id, as the matrix names it
    dtypes = ["float32"]                 # optional: every dtype when left out
    reason = "the fused op is log(softmax(z)): probabilities underflow at logits like +-1e4"

A failure the file declares shows as "declared" in the matrix and doesn't fail the run; a declared check that
passes shows as "pass" with a note. A file that can't be read, or that names an unknown check, dtype or key,
is one line naming the plugin and the cause (a ``DeviationsError``, exit status 2).
"""

from __future__ import annotations

import inspect
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from softmax_rosetta.backend import Backend
from softmax_rosetta.checks import BackendError
from softmax_rosetta.spec import DTYPES

KEYS = ("check", "dtypes", "reason")


class DeviationsError(BackendError):
    """A deviations file that can't be used; the message names the plugin, the file and the cause."""


@dataclass(frozen=True)
class Deviation:
    check: str
    dtypes: tuple[str, ...]
    reason: str


def path_of(cls: type[Backend]) -> Path | None:
    """The backend's deviations file, or None where it declares none."""
    if not cls.deviations:
        return None
    return Path(inspect.getfile(cls)).resolve().parent / cls.deviations


def load(cls: type[Backend], known: Iterable[str], where: str) -> list[Deviation]:
    """The deviations ``cls`` declares, each checked against the ``known`` check ids; ``where`` names the
    plugin in an error ("backend plugin 'tiny' (from tiny-plugin)")."""
    path = path_of(cls)
    if path is None:
        return []

    def fail(cause: str) -> DeviationsError:
        return DeviationsError(f"{where}: deviations file {path}: {cause}")

    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise fail(f"can't be read: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise fail(f"not valid TOML: {exc}") from None
    extra = sorted(set(raw) - {"deviation"})
    if extra:
        raise fail(f"unknown table or key {extra[0]!r}; a deviations file holds [[deviation]] entries only")
    entries = raw.get("deviation", [])
    if not isinstance(entries, list):
        raise fail("'deviation' must be an array of tables: [[deviation]]")
    known = list(known)
    found = []
    for i, entry in enumerate(entries, 1):
        at = f"deviation #{i}"
        if not isinstance(entry, dict):
            raise fail(f"{at} is not a table")
        unknown = sorted(set(entry) - set(KEYS))
        if unknown:
            raise fail(f"{at}: unknown key {unknown[0]!r}; known: {', '.join(KEYS)}")
        check, reason, dtypes = entry.get("check"), entry.get("reason"), entry.get("dtypes", list(DTYPES))
        if check not in known:
            raise fail(f"{at}: unknown check {check!r}; known: {', '.join(known)}")
        if not isinstance(reason, str) or not reason.strip():
            raise fail(f"{at} ({check}): 'reason' must say why, in words")
        if not isinstance(dtypes, list) or not dtypes or any(d not in DTYPES for d in dtypes):
            raise fail(f"{at} ({check}): 'dtypes' must be a list of {', '.join(DTYPES)}, got {dtypes!r}")
        found.append(Deviation(check, tuple(dtypes), reason.strip()))
    return found


def declared(deviations: Iterable[Deviation], check: str, dtype: str) -> Deviation | None:
    return next((d for d in deviations if d.check == check and dtype in d.dtypes), None)
