"""The saved-run file format: one training run per self-describing JSON file, written and read back checked.

    path = write_run(folder, saved_run(result, forward, spec, host="runner-gpu", ...))
    run = read_run("runs/runner_gpu-torch-lesson-float32-cpu-1a2b3c4d5e.json")

A file holds the spec (its TOML text and ``spec_hash``), where the run was made (``host``: a
``--label`` or the machine's hostname, and ``environment.environment()``), the backend's
versions and settings, the run itself (``TrainResult.to_dict``: every cost, the final weight and
bias) and the backend's forward outputs in that dtype. Floats are written by ``repr``, so they
read back exactly; inf and nan as the strings "inf", "-inf" and "nan". The format is in docs/report.md.

Written into a folder, a run's file is named by its identity (``identity.file_name``): re-saving the
same run replaces its own file, and nothing else does. Reading checks every field (``fields``); a
file that is not JSON, not a saved run, of another schema version, or with a field missing, of the
wrong type, out of range or holding a control character is ``SavedRunError``: one line naming the
file and the field.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from softmax_rosetta.checks import LEVELS
from softmax_rosetta.results import TrainResult
from softmax_rosetta.spec import Spec

from ...files import atomic_write
from ..json_report import jsonable
from ..model import now
from ..text import printable
from .identity import PlacedRun, RunIdentity, file_name, spec_hash

SCHEMA = "softmax-rosetta/saved-run"
SCHEMA_VERSION = 1
FORWARD_OUTPUTS = ("softmax", "log_softmax", *(f"loss:{level}" for level in LEVELS))  # compare.forward_outputs
ROLES = ("compared", "reference")  # reference: the float64 NumPy run made only to measure the others against
HOST_LENGTH = 100  # the longest host label


class SavedRunError(ValueError):
    """A saved run that can't be used, or can't be written: one line naming the file.

    The message is made printable (control characters escaped): it names files and values
    that come from elsewhere."""

    def __init__(self, message: str):
        super().__init__(printable(message))


@dataclass
class SavedRun:
    """One saved run, read back and checked."""

    path: str
    host: str
    role: str
    spec: Spec  # rebuilt from the file's own TOML text
    spec_hash: str
    run: PlacedRun
    forward: dict[str, np.ndarray]
    versions: dict[str, str]
    settings: dict[str, Any]
    environment: dict[str, Any]
    created: str = ""
    data: dict[str, Any] = field(default_factory=dict, repr=False)  # the file's JSON, as read

    @property
    def identity(self) -> RunIdentity:
        r = self.run
        return RunIdentity(self.spec_hash, self.host, r.backend, r.variant, r.dtype, r.device, r.workers)


def spec_text(spec: Spec) -> str:
    """The spec file's TOML text, to travel with the runs."""
    if not spec.path:
        raise SavedRunError(f"spec {spec.name!r} has no file to save with the runs")
    return Path(spec.path).read_text(encoding="utf-8")


def host_label(label: str | None, option: str = "--label") -> str:
    """``--label``, checked, or this machine's hostname: one line of printable characters."""
    text = (socket.gethostname() or "localhost") if label is None else label
    if not text.strip() or printable(text) != text or len(text) > HOST_LENGTH:
        raise SavedRunError(
            f"{option}: {text!r} must be 1 to {HOST_LENGTH} characters without control characters"
            if label is not None
            else f"{option}: the hostname {text!r} can't name the runs; give one with {option}"
        )
    return text.strip()


# --- writing -----------------------------------------------------------------------------


def saved_run(
    result: TrainResult,
    forward: dict[str, Any],
    spec: Spec,
    toml_text: str,
    host: str,
    versions: dict[str, str],
    settings: dict[str, Any],
    environment: dict[str, Any],
    role: str = "compared",
) -> dict[str, Any]:
    """The file's content, as plain JSON values."""
    return jsonable(
        {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "created": now(),
            "host": host,
            "role": role,
            "spec": {"name": spec.name, "hash": spec_hash(spec), "toml": toml_text},
            "backend": result.backend,
            "variant": result.variant,
            "dtype": result.dtype,
            "device": result.device,
            "run": result.to_dict(),
            "forward": {k: np.asarray(v) for k, v in forward.items()},
            "versions": versions,
            "settings": settings,
            "environment": environment,
        }
    )


def target(path: str | os.PathLike[str], data: dict[str, Any]) -> str:
    """Where ``write_run`` puts ``data``: into a folder under its identity's ``file_name``, else ``path``.

    A file of that name in the folder that is not a saved run of the same identity is ``SavedRunError``:
    a run replaces only its own file."""
    if not os.path.isdir(path):
        return os.fspath(path)
    identity = RunIdentity.of(data)
    found = os.path.join(path, file_name(identity))
    if os.path.lexists(found):
        try:
            other = RunIdentity.of(json.loads(Path(found).read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
            other = None
        if other != identity:
            raise SavedRunError(
                f"{found}: exists and is not a saved run of {identity.describe()}; it is left as it is "
                "(move it away to save this run there)"
            )
    return found


def write_run(path: str | os.PathLike[str], data: dict[str, Any]) -> str:
    """Write one saved run atomically (a folder: under its identity's ``file_name``); its path."""
    where = target(path, data)
    atomic_write(where, json.dumps(data, indent=1, allow_nan=False) + "\n")
    return where


# --- reading -----------------------------------------------------------------------------


def read_run(path: str) -> SavedRun:
    """One saved run, every field checked; ``SavedRunError`` naming the file and the field."""
    from .fields import FieldError, parse

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SavedRunError(f"{path}: can't read it: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SavedRunError(f"{path}: not JSON ({exc.msg} at line {exc.lineno}); not a saved run") from None
    except RecursionError:
        raise SavedRunError(f"{path}: not a saved run (JSON nested too deeply)") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        schema = data.get("schema") if isinstance(data, dict) else None
        what = f"its schema is {schema!r:.60}" if schema else "it has no schema field"
        raise SavedRunError(f"{path}: not a saved run ({what}; expected {SCHEMA!r})")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise SavedRunError(f"{path}: schema_version {version!r:.60}; this softmax-rosetta reads {SCHEMA_VERSION}")
    try:
        parts = parse(data)
    except FieldError as exc:
        raise SavedRunError(f"{path}: {exc}") from None
    return SavedRun(path=path, data=data, **parts)
