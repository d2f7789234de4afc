"""Every field of a saved run, checked on reading: types, ranges and control characters.

``parse(data)`` returns the parts of a ``format.SavedRun`` or raises ``FieldError``, whose message
names the field (``field 'run.diverged_at': ...``); ``format.read_run`` puts the file's name before it.
What a field may hold is in docs/report.md ("A saved run").
"""

from __future__ import annotations

import math
import re
import tomllib
import unicodedata
from datetime import datetime
from typing import Any

import numpy as np

from softmax_rosetta.results import TrainResult
from softmax_rosetta.spec import DTYPES, Spec, SpecError, spec_from_dict

from ..text import UNSAFE
from .identity import PlacedRun, spec_hash

TOP = (
    *("schema", "schema_version", "created", "host", "role", "spec", "backend", "variant", "dtype", "device"),
    *("run", "forward", "versions", "settings", "environment"),
)
RUN = tuple(TrainResult.__dataclass_fields__)
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:+-]{0,63}")  # a backend, variant or device name
HASH = re.compile(r"sha256:[0-9a-f]{64}")
NON_FINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}
TOML_WHITESPACE = "\n\r\t"  # what spec.toml, a file's text, may hold besides printable characters


class FieldError(ValueError):
    """One field of a saved run is wrong: the message names it."""


def _show(value: Any) -> str:
    """A value for a message: its repr, cut to 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def parse(data: dict[str, Any]) -> dict[str, Any]:
    """The checked parts of a saved run (``format.SavedRun``'s fields but ``path`` and ``data``)."""
    _no_control_characters(data, "")
    _only(data, TOP, "")
    host = _string(data, "host")
    if host != host.strip() or len(host) > 100:
        raise FieldError(f"field 'host': {_show(host)} must be 1 to 100 characters, no space at either end")
    role = _string(data, "role")
    if role not in ("compared", "reference"):
        raise FieldError(f"field 'role': {_show(role)}, expected one of compared, reference")
    created = _string(data, "created")
    try:
        datetime.fromisoformat(created)
    except ValueError:
        raise FieldError(f"field 'created': {_show(created)}, expected an ISO 8601 time") from None
    spec, recorded = _spec(data)
    raw = _get(data, "run", dict)
    _only(raw, RUN, "run.")
    dtype = _string(data, "run.dtype")
    if dtype not in DTYPES:
        raise FieldError(f"field 'run.dtype': {_show(dtype)}, expected one of {', '.join(DTYPES)}")
    if dtype not in spec.tolerances:
        raise FieldError(f"field 'run.dtype': {dtype!r}; its spec has no tolerances for it")
    for name in ("backend", "variant", "device"):
        value = _string(data, f"run.{name}")
        if not NAME.fullmatch(value):
            raise FieldError(f"field 'run.{name}': {_show(value)} is not a name (letters, digits, _.:+-)")
    for name in ("backend", "variant", "dtype", "device"):
        if data.get(name) != raw[name]:
            raise FieldError(f"field {name!r}: {_show(data.get(name))}, but run.{name} is {raw[name]!r}")
    for name, want in (("spec", spec.name), ("lr", spec.lr), ("epochs", spec.epochs)):
        value = _get(data, f"run.{name}", str if name == "spec" else int if name == "epochs" else (int, float))
        if value != want:
            raise FieldError(f"field 'run.{name}': {_show(value)}, but its spec's {name} is {want!r}")
    _fraction(raw, "accuracy", required=True)
    _fraction(raw, "test_accuracy", required=spec.x_test is not None)
    seconds = _get(data, "run.seconds", (int, float))
    if not 0 <= seconds < math.inf:
        raise FieldError(f"field 'run.seconds': {_show(seconds)}, expected a time in seconds (0 or more)")
    _get(data, "run.settings", dict)
    workers = raw.setdefault("workers", 1)  # files older than data-parallel runs: one process
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise FieldError(f"field 'run.workers': {_show(workers)}, expected an integer of 1 or more")
    costs = _costs(raw, spec.epochs, dtype)
    c, d = spec.num_classes, spec.num_features
    weight = _numbers(_get(data, "run.weight", list), "run.weight", dtype, (c, d))
    bias = _numbers(_get(data, "run.bias", list), "run.bias", dtype, (c,))
    run = PlacedRun(**{**raw, "costs": costs, "weight": weight, "bias": bias, "host": host})
    return {
        "host": host,
        "role": role,
        "spec": spec,
        "spec_hash": recorded,
        "run": run,
        "forward": _forward(data, spec, dtype),
        "versions": _versions(data),
        "settings": _get(data, "settings", dict),
        "environment": _get(data, "environment", dict),
        "created": data["created"],
    }


def _get(data: dict[str, Any], dotted: str, kind: type | tuple[type, ...]) -> Any:
    value: Any = data
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            raise FieldError(f"missing field {dotted!r}")
        value = value[part]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        names = {str: "a string", int: "an integer", float: "a number", dict: "an object", list: "a list"}
        want = " or ".join(dict.fromkeys(names.get(k, k.__name__) for k in kinds))
        raise FieldError(f"field {dotted!r}: expected {want}, got {_show(value)}")
    return value


def _string(data: dict[str, Any], dotted: str) -> str:
    value: str = _get(data, dotted, str)
    if not value:
        raise FieldError(f"field {dotted!r}: empty")
    return value


def _only(data: dict[str, Any], known: tuple[str, ...], prefix: str) -> None:
    extra = [k for k in data if k not in known]
    if extra:
        raise FieldError(f"field '{prefix}{extra[0]}': not a field of a saved run (schema_version 1)")


def _no_control_characters(value: Any, dotted: str) -> None:
    """No string anywhere (keys too) holds a control character; spec.toml, a file, may hold line breaks and tabs."""
    if isinstance(value, dict):
        for k, v in value.items():
            _no_control_characters(k, dotted or "(a key)")
            _no_control_characters(v, f"{dotted}.{k}" if dotted else k)
    elif isinstance(value, list):
        for v in value:
            _no_control_characters(v, dotted)
    elif isinstance(value, str):
        allowed = TOML_WHITESPACE if dotted == "spec.toml" else ""
        for i, ch in enumerate(value):
            if UNSAFE.match(ch) and ch not in allowed:
                what = "control" if unicodedata.category(ch) == "Cc" else "unprintable"
                raise FieldError(f"field {dotted!r}: {what} character {ch!r} at position {i} in {_show(value)}")


def _spec(data: dict[str, Any]) -> tuple[Spec, str]:
    _only(_get(data, "spec", dict), ("name", "hash", "toml"), "spec.")
    recorded = _get(data, "spec.hash", str)
    if not HASH.fullmatch(recorded):
        raise FieldError(f"field 'spec.hash': {_show(recorded)}, expected 'sha256:' and 64 hex digits")
    try:
        spec = spec_from_dict(tomllib.loads(_get(data, "spec.toml", str)))
    except (tomllib.TOMLDecodeError, SpecError) as exc:
        raise FieldError(f"field 'spec.toml': not a valid spec: {exc}") from None
    if spec_hash(spec) != recorded:
        raise FieldError(f"field 'spec.hash' ({recorded[:19]}) does not match its spec.toml (edited?)")
    name = _get(data, "spec.name", str)
    if name != spec.name:
        raise FieldError(f"field 'spec.name': {_show(name)}, but its spec.toml names {spec.name!r}")
    return spec, recorded


def _fraction(raw: dict[str, Any], name: str, required: bool) -> None:
    value = raw.get(name)
    if value is None and not required and name in raw:
        return
    if name not in raw:
        raise FieldError(f"missing field 'run.{name}'")
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1
    if not ok:
        want = "a fraction from 0 to 1" + ("" if required else " (null: its spec has no test split)")
        raise FieldError(f"field 'run.{name}': {_show(value)}, expected {want}")


def _costs(raw: dict[str, Any], epochs: int, dtype: str) -> np.ndarray:
    costs = _numbers(_get({"run": raw}, "run.costs", list), "run.costs", dtype)
    diverged = raw.get("diverged_at")
    if "diverged_at" not in raw:
        raise FieldError("missing field 'run.diverged_at'")
    if diverged is not None and (
        not isinstance(diverged, int) or isinstance(diverged, bool) or not 0 <= diverged <= epochs
    ):
        raise FieldError(f"field 'run.diverged_at': {_show(diverged)}, expected null or an epoch from 0 to {epochs}")
    n = epochs + 1 if diverged is None else diverged + 1
    if costs.ndim != 1 or costs.shape[0] != n:
        why = "epochs + 1" if diverged is None else "diverged_at + 1"
        raise FieldError(f"field 'run.costs': {costs.shape[0] if costs.ndim else 0} costs, expected {n} ({why})")
    finite = np.isfinite(costs)
    if diverged is None and not finite.all():
        first = int(np.flatnonzero(~finite)[0])
        raise FieldError(f"field 'run.costs': cost {first} is {costs[first]}, but diverged_at is null")
    if diverged is not None and (finite[-1] or not finite[:-1].all()):
        raise FieldError(
            f"field 'run.costs': diverged_at is {diverged}, but cost {diverged} is not the first inf or nan"
        )
    return costs


def _numbers(value: Any, dotted: str, dtype: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """A (nested) list of numbers, or of the strings "inf", "-inf", "nan" the format writes for those."""

    def number(x: Any) -> float:
        if isinstance(x, str) and x in NON_FINITE:
            return NON_FINITE[x]
        if isinstance(x, (int, float)) and not isinstance(x, bool):
            try:
                if math.isfinite(float(x)):
                    return float(x)
            except OverflowError:  # an integer beyond any float
                raise FieldError(f"field {dotted!r}: a number beyond the range of {dtype}") from None
        raise FieldError(f'field {dotted!r}: {_show(x)} is not a number (nor "inf", "-inf", "nan")')

    def walk(x: Any) -> Any:
        return [walk(v) for v in x] if isinstance(x, list) else number(x)

    numbers = walk(value)
    try:
        exact = np.asarray(numbers, dtype=np.float64)
    except ValueError:  # ragged
        raise FieldError(f"field {dotted!r}: not an array (rows of different lengths)") from None
    with np.errstate(over="ignore"):
        arr = exact.astype(dtype)
    if (np.isfinite(exact) & ~np.isfinite(arr)).any():
        raise FieldError(f"field {dotted!r}: a number beyond the range of {dtype}")
    if shape is not None and arr.shape != shape:
        raise FieldError(f"field {dotted!r}: shape {arr.shape}, the spec's is {shape}")
    return arr


def _forward(data: dict[str, Any], spec: Spec, dtype: str) -> dict[str, np.ndarray]:
    from .format import FORWARD_OUTPUTS

    raw = _get(data, "forward", dict)
    _only(raw, FORWARD_OUTPUTS, "forward.")
    forward = {}
    for key in FORWARD_OUTPUTS:
        shape = (spec.num_samples, spec.num_classes) if key in ("softmax", "log_softmax") else ()
        value = _get(data, f"forward.{key}", (list, int, float, str))
        forward[key] = _numbers(value, f"forward.{key}", dtype, shape)
    return forward


def _versions(data: dict[str, Any]) -> dict[str, str]:
    versions: dict[str, str] = _get(data, "versions", dict)
    for k, v in versions.items():
        if not isinstance(v, str):
            raise FieldError(f"field 'versions.{k}': expected a string, got {_show(v)}")
    return versions
