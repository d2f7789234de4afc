"""Saved runs: one training run per self-describing JSON file, to compare on another machine.

    path = write_run(folder, saved_run(result, forward, spec, host="runner-gpu", ...))
    runs = load_runs(["runs/"])          # every *.json under the folders and files given

A file holds the spec (its TOML text and ``spec_hash``), where the run was made (``host``: a
``--label`` or the machine's hostname, and ``environment.environment()``), the backend's
versions and settings, the run itself (``TrainResult.to_dict``: every cost, the final weight and
bias) and the backend's forward outputs in that dtype. Floats are written by ``repr``, so they
read back exactly; inf and nan as the strings "inf" and "nan". The format is in docs/report.md.

Reading checks everything the report relies on; a file that is not JSON, not a saved run, of
another schema version, or that lacks a field is ``SavedRunError``: one line naming the file
and the field. Runs of different specs (their hashes differ) are refused the same way.
"""

from __future__ import annotations

import json
import os
import re
import socket
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from softmax_rosetta.checks import LEVELS
from softmax_rosetta.results import TrainResult
from softmax_rosetta.spec import Spec, SpecError, spec_from_dict

from ..files import atomic_write
from .json_report import jsonable
from .model import now
from .placed import PlacedRun, spec_hash

SCHEMA = "softmax-rosetta/saved-run"
SCHEMA_VERSION = 1
FORWARD_OUTPUTS = ("softmax", "log_softmax", *(f"loss:{level}" for level in LEVELS))  # compare.forward_outputs
ROLES = ("compared", "reference")  # reference: the float64 NumPy run made only to measure the others against


class SavedRunError(ValueError):
    """A saved run that can't be used: one line naming the file."""


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
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        r = self.run
        return (r.backend, r.variant, r.dtype, r.device, self.host)


def spec_text(spec: Spec) -> str:
    """The spec file's TOML text, to travel with the runs."""
    if not spec.path:
        raise SavedRunError(f"spec {spec.name!r} has no file to save with the runs")
    return Path(spec.path).read_text(encoding="utf-8")


def host_label(label: str | None) -> str:
    """``--label``, checked, or this machine's hostname."""
    text = (socket.gethostname() or "localhost") if label is None else label
    if not text.strip() or any(c in text for c in "\n\r\t") or len(text) > 100:
        raise SavedRunError(f"--label: {label!r} must be one line of 1 to 100 characters")
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


def file_name(data: dict[str, Any]) -> str:
    """``HOST-BACKEND-VARIANT-DTYPE-DEVICE.json``; in each part, what is not a letter, digit or ``.`` is ``_``."""
    parts = (data["host"], data["backend"], data["variant"], data["dtype"], data["device"])
    return "-".join(re.sub(r"[^A-Za-z0-9.]+", "_", p) for p in parts) + ".json"


def write_run(path: str | os.PathLike[str], data: dict[str, Any]) -> str:
    """Write one saved run atomically (a folder: under ``file_name``); its path."""
    target = os.path.join(path, file_name(data)) if os.path.isdir(path) else os.fspath(path)
    atomic_write(target, json.dumps(data, indent=1, allow_nan=False) + "\n")
    return target


# --- reading -----------------------------------------------------------------------------


def run_files(paths: Sequence[str], option: str = "--runs") -> list[str]:
    """Each file given, and every ``*.json`` under each folder given (sorted)."""
    found: list[str] = []
    for p in paths:
        if os.path.isdir(p):
            inside = sorted(str(f) for f in Path(p).rglob("*.json") if f.is_file())
            if not inside:
                raise SavedRunError(f"{option}: no saved runs (*.json) in the folder {p!r}")
            found += inside
        elif os.path.isfile(p):
            found.append(p)
        else:
            raise SavedRunError(f"{option}: no such file or folder {p!r}")
    return list({os.path.realpath(f): f for f in reversed(found)}.values())[::-1]  # a file given twice: once


def load_runs(paths: Sequence[str], option: str = "--runs") -> list[SavedRun]:
    """Every saved run under ``paths``, checked: one spec, no run twice."""
    runs = [read_run(f) for f in run_files(paths, option)]
    check_one_spec(runs)
    seen: dict[tuple[str, ...], str] = {}
    for r in runs:
        if r.key in seen:
            raise SavedRunError(
                f"{r.path}: the same run as {seen[r.key]} ({r.run.label} {r.run.dtype}); "
                "give each machine its own --label when saving"
            )
        seen[r.key] = r.path
    return runs


def check_one_spec(runs: Iterable[SavedRun]) -> None:
    first: SavedRun | None = None
    for r in runs:
        if first is None:
            first = r
        elif r.spec_hash != first.spec_hash:
            raise SavedRunError(
                f"runs of different specs: {first.path} ({first.spec.name}, {first.spec_hash[:19]}) and "
                f"{r.path} ({r.spec.name}, {r.spec_hash[:19]}); compare runs of one spec"
            )
        elif r.spec.tolerances != first.spec.tolerances:
            raise SavedRunError(f"{r.path}: its spec's tolerances differ from those of {first.path}")


def read_run(path: str) -> SavedRun:
    """One saved run; ``SavedRunError`` naming the file and what is wrong with it."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SavedRunError(f"{path}: can't read it: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SavedRunError(f"{path}: not JSON ({exc.msg} at line {exc.lineno}); not a saved run") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        schema = data.get("schema") if isinstance(data, dict) else None
        what = f"its schema is {schema!r}" if schema else "it has no schema field"
        raise SavedRunError(f"{path}: not a saved run ({what}; expected {SCHEMA!r})")
    if data.get("schema_version") != SCHEMA_VERSION:
        raise SavedRunError(
            f"{path}: schema_version {data.get('schema_version')!r}; this softmax-rosetta reads {SCHEMA_VERSION}"
        )
    try:
        return _parse(path, data)
    except _Missing as exc:
        raise SavedRunError(f"{path}: {exc}") from None


class _Missing(ValueError):
    pass


def _get(data: dict[str, Any], dotted: str, kind: type | tuple[type, ...]) -> Any:
    value: Any = data
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            raise _Missing(f"missing field {dotted!r}")
        value = value[part]
    if not isinstance(value, kind) or isinstance(value, bool) and kind in (int, float, (int, float)):
        raise _Missing(f"field {dotted!r}: expected {getattr(kind, '__name__', 'a number')}, got {value!r:.60}")
    return value


def _numbers(value: Any, dotted: str, dtype: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError):
        raise _Missing(f"field {dotted!r}: not an array of numbers") from None
    if shape is not None and arr.shape != shape:
        raise _Missing(f"field {dotted!r}: shape {arr.shape}, the spec's is {shape}")
    return arr


def _parse(path: str, data: dict[str, Any]) -> SavedRun:
    host = _get(data, "host", str)
    role = _get(data, "role", str)
    if role not in ROLES:
        raise _Missing(f"field 'role': {role!r}, expected one of {', '.join(ROLES)}")
    recorded = _get(data, "spec.hash", str)
    try:
        spec = spec_from_dict(tomllib.loads(_get(data, "spec.toml", str)))
    except (tomllib.TOMLDecodeError, SpecError) as exc:
        raise _Missing(f"field 'spec.toml': not a valid spec: {exc}") from None
    if spec_hash(spec) != recorded:
        raise _Missing(f"field 'spec.hash' ({recorded[:19]}) does not match its spec.toml (edited?)")
    raw = _get(data, "run", dict)
    dtype = _get(data, "run.dtype", str)
    if dtype not in spec.tolerances:
        raise _Missing(f"field 'run.dtype': {dtype!r}; its spec has no tolerances for it")
    for name, kind in (
        ("backend", str),
        ("variant", str),
        ("device", str),
        ("spec", str),
        ("lr", (int, float)),
        ("epochs", int),
        ("accuracy", (int, float)),
        ("seconds", (int, float)),
        ("settings", dict),
    ):
        _get(data, f"run.{name}", kind)
    for top in ("backend", "variant", "dtype", "device"):
        if data.get(top) != raw[top]:
            raise _Missing(f"field {top!r}: {data.get(top)!r}, but run.{top} is {raw[top]!r}")
    diverged = raw.get("diverged_at")
    costs = _numbers(_get(data, "run.costs", list), "run.costs", dtype)
    if costs.ndim != 1 or (diverged is None and costs.shape[0] != raw["epochs"] + 1):
        raise _Missing(
            f"field 'run.costs': {costs.shape[0] if costs.ndim == 1 else costs.shape} costs, "
            f"expected {raw['epochs'] + 1} (epochs + 1)"
        )
    c, d = spec.num_classes, spec.num_features
    weight = _numbers(_get(data, "run.weight", list), "run.weight", dtype, (c, d))
    bias = _numbers(_get(data, "run.bias", list), "run.bias", dtype, (c,))
    fields = {k: v for k, v in raw.items() if k in TrainResult.__dataclass_fields__}
    run = PlacedRun(**{**fields, "costs": costs, "weight": weight, "bias": bias, "host": host})
    raw_forward = _get(data, "forward", dict)
    forward = {}
    for key in FORWARD_OUTPUTS:
        shape = (spec.num_samples, c) if key in ("softmax", "log_softmax") else ()
        forward[key] = _numbers(_get(data, f"forward.{key}", (list, int, float, str)), f"forward.{key}", dtype, shape)
    extra = sorted(raw_forward.keys() - set(FORWARD_OUTPUTS))
    if extra:
        raise _Missing(f"field 'forward.{extra[0]}': not an output the report compares")
    return SavedRun(
        path=path,
        host=host,
        role=role,
        spec=spec,
        spec_hash=recorded,
        run=run,
        forward=forward,
        versions=_get(data, "versions", dict),
        settings=_get(data, "settings", dict),
        environment=_get(data, "environment", dict),
        created=str(data.get("created", "")),
    )
