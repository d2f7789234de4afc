"""The shared spec: one TOML file per workload, loaded into a frozen, validated dataclass.

A spec holds everything every backend needs to run the same experiment: the data, the
model's shape, the initial parameters, the optimizer, the expected cost trajectory and
the tolerances (per dtype) that say how closely backends must agree.

    spec = load_spec("seed")              # a bundled spec, by name
    spec = load_spec("path/to/my.toml")   # or a file of your own

Every problem with a spec file is one ``SpecError`` naming the field and the value.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

SPEC_DIR = Path(__file__).parent / "specs"
DTYPES = ("float32", "float64")


class SpecError(ValueError):
    """A spec file is missing a field, has an unknown one, or holds an impossible value."""


@dataclass(frozen=True)
class Tolerance:
    """How closely results must agree, for one dtype. All are absolute differences.

    expected_cost: |cost - expected cost| at the epochs the spec lists.
    cost:          |cost_a - cost_b| between two backends, at every epoch.
    param:         |param_a - param_b| between two backends' final weight and bias.
    output:        |a - b| between two backends' softmax, log_softmax and loss values
                   for one forward pass on the spec's data.
    note:          where the numbers come from.
    """

    expected_cost: float
    cost: float
    param: float
    output: float
    note: str = ""


@dataclass(frozen=True, eq=False)
class Spec:
    """One workload. Arrays are read-only NumPy arrays, float64 for data and parameters.

    Shapes: x_train (N, D), y_train (N,) integer class indices in [0, C),
    init_weight (C, D) stored (out, in) as torch stores it, init_bias (C,).
    """

    name: str
    description: str
    x_train: np.ndarray
    y_train: np.ndarray
    num_classes: int
    init_weight: np.ndarray
    init_bias: np.ndarray
    optimizer: str
    lr: float
    epochs: int
    expected_every: int
    expected_costs: tuple[float, ...]
    expected_source: str
    tolerances: dict[str, Tolerance]
    path: str = field(default="")

    @property
    def num_features(self) -> int:
        return self.x_train.shape[1]

    @property
    def num_samples(self) -> int:
        return self.x_train.shape[0]

    @property
    def expected_epochs(self) -> tuple[int, ...]:
        """The epochs at which ``expected_costs`` were recorded: 0, every, 2*every, ..."""
        return tuple(i * self.expected_every for i in range(len(self.expected_costs)))

    def tolerance(self, dtype: str) -> Tolerance:
        if dtype not in self.tolerances:
            raise SpecError(f"tolerance.{dtype}: the spec {self.name!r} has no tolerances for dtype {dtype!r}")
        return self.tolerances[dtype]

    def replace(self, **changes: Any) -> "Spec":
        """A copy with some fields changed (``epochs``, ``lr``), validated again."""
        if "epochs" in changes:
            _check_int("optimizer.epochs", changes["epochs"], minimum=0)
        if "lr" in changes:
            changes["lr"] = _check_positive_float("optimizer.lr", changes["lr"])
        import dataclasses

        return dataclasses.replace(self, **changes)


# --- loading -------------------------------------------------------------------------

_SCHEMA: dict[str, Any] = {
    "name": str,
    "description": str,
    "data": {"x_train": list, "y_train": list},
    "model": {"in_features": int, "out_features": int},
    "init": {"kind": str, "weight": list, "bias": list, "source": str},
    "optimizer": {"name": str, "lr": (int, float), "epochs": int},
    "expected": {"every": int, "costs": list, "source": str},
    "tolerance": dict,
}
_TOLERANCE_FIELDS = {"expected_cost", "cost", "param", "output", "note"}
_REQUIRED_TOP = {"name", "data", "model", "init", "optimizer", "tolerance"}


def bundled_specs() -> list[str]:
    """Names of the specs shipped with the project."""
    return sorted(p.stem for p in SPEC_DIR.glob("*.toml"))


def load_spec(name_or_path: str | Path) -> Spec:
    """Load a bundled spec by name (``"seed"``) or a TOML file by path."""
    text_path = Path(name_or_path)
    if text_path.suffix == ".toml" or text_path.exists():
        path = text_path
        if not path.is_file():
            raise SpecError(f"spec: no such file {str(name_or_path)!r}")
    else:
        path = SPEC_DIR / f"{name_or_path}.toml"
        if not path.is_file():
            raise SpecError(
                f"spec: unknown spec {str(name_or_path)!r}; bundled specs: {', '.join(bundled_specs())}"
                " (or give a path to a .toml file)"
            )
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"spec: {path} is not valid TOML: {exc}") from None
    return spec_from_dict(raw, path=str(path))


def spec_from_dict(raw: dict[str, Any], path: str = "") -> Spec:
    """Validate a parsed TOML document and build a ``Spec``."""
    _check_fields("", raw, _SCHEMA)
    missing = _REQUIRED_TOP - raw.keys()
    if missing:
        raise SpecError(f"{sorted(missing)[0]}: missing from the spec")

    data, model, init, opt = raw["data"], raw["model"], raw["init"], raw["optimizer"]
    for section, keys in (("data", ("x_train", "y_train")), ("model", ("in_features", "out_features")),
                          ("init", ("kind",)), ("optimizer", ("name", "lr", "epochs"))):
        for key in keys:
            if key not in raw[section]:
                raise SpecError(f"{section}.{key}: missing from the spec")

    d = _check_int("model.in_features", model["in_features"], minimum=1)
    c = _check_int("model.out_features", model["out_features"], minimum=1)

    x = _float_matrix("data.x_train", data["x_train"])
    if x.shape[0] == 0:
        raise SpecError("data.x_train: the data set is empty")
    if x.shape[1] != d:
        raise SpecError(f"data.x_train: rows have {x.shape[1]} features but model.in_features is {d}")
    y = _labels("data.y_train", data["y_train"], c)
    if y.shape[0] != x.shape[0]:
        raise SpecError(f"data.y_train: {y.shape[0]} labels for {x.shape[0]} rows of data.x_train")

    if init["kind"] != "explicit":
        raise SpecError(f"init.kind: unknown kind {init['kind']!r}; known: 'explicit'")
    for key in ("weight", "bias"):
        if key not in init:
            raise SpecError(f"init.{key}: missing (init.kind = 'explicit' needs weight and bias)")
    w = _float_matrix("init.weight", init["weight"])
    if w.shape != (c, d):
        raise SpecError(f"init.weight: shape {w.shape} but the model needs (out_features, in_features) = {(c, d)}")
    b = np.asarray(init["bias"], dtype=np.float64) if _is_number_list(init["bias"]) else None
    if b is None or b.shape != (c,):
        raise SpecError(f"init.bias: expected {c} numbers, got {init['bias']!r}")
    _check_finite("init.bias", b)

    if opt["name"] != "sgd":
        raise SpecError(f"optimizer.name: unknown optimizer {opt['name']!r}; known: 'sgd'")
    lr = _check_positive_float("optimizer.lr", opt["lr"])
    epochs = _check_int("optimizer.epochs", opt["epochs"], minimum=0)

    exp = raw.get("expected", {})
    every = _check_int("expected.every", exp.get("every", 1), minimum=1)
    costs = exp.get("costs", [])
    if not _is_number_list(costs):
        raise SpecError(f"expected.costs: expected a list of numbers, got {costs!r}")
    costs = tuple(float(v) for v in costs)
    if costs and (len(costs) - 1) * every > epochs:
        raise SpecError(f"expected.costs: {len(costs)} costs every {every} epochs run past optimizer.epochs = {epochs}")

    tolerances = {}
    for dtype, tol in raw["tolerance"].items():
        if dtype not in DTYPES:
            raise SpecError(f"tolerance.{dtype}: unknown dtype {dtype!r}; known: {', '.join(DTYPES)}")
        if not isinstance(tol, dict):
            raise SpecError(f"tolerance.{dtype}: expected a table, got {tol!r}")
        unknown = tol.keys() - _TOLERANCE_FIELDS
        if unknown:
            raise SpecError(f"tolerance.{dtype}.{sorted(unknown)[0]}: unknown field; known: {', '.join(sorted(_TOLERANCE_FIELDS))}")
        values = {}
        for key in sorted(_TOLERANCE_FIELDS - {"note"}):
            if key not in tol:
                raise SpecError(f"tolerance.{dtype}.{key}: missing from the spec")
            values[key] = _check_positive_float(f"tolerance.{dtype}.{key}", tol[key])
        tolerances[dtype] = Tolerance(**values, note=str(tol.get("note", "")).strip())
    if not tolerances:
        raise SpecError("tolerance: the spec gives no tolerances; add [tolerance.float32] and/or [tolerance.float64]")

    for arr in (x, y, w, b):
        arr.setflags(write=False)
    return Spec(
        name=_check_str("name", raw["name"]),
        description=str(raw.get("description", "")).strip(),
        x_train=x, y_train=y, num_classes=c, init_weight=w, init_bias=b,
        optimizer="sgd", lr=lr, epochs=epochs,
        expected_every=every, expected_costs=costs, expected_source=str(exp.get("source", "")).strip(),
        tolerances=tolerances, path=path,
    )


# --- validators: each raises one SpecError naming the field and the value ---------------

def _check_fields(prefix: str, raw: dict[str, Any], schema: dict[str, Any]) -> None:
    for key, value in raw.items():
        where = f"{prefix}{key}"
        if key not in schema:
            raise SpecError(f"{where}: unknown field; known here: {', '.join(schema)}")
        expected = schema[key]
        if isinstance(expected, dict):
            if not isinstance(value, dict):
                raise SpecError(f"{where}: expected a table, got {value!r}")
            _check_fields(f"{where}.", value, expected)
        elif not isinstance(value, expected) or isinstance(value, bool):
            names = expected.__name__ if isinstance(expected, type) else " or ".join(t.__name__ for t in expected)
            raise SpecError(f"{where}: expected {names}, got {value!r}")


def _check_str(where: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SpecError(f"{where}: expected a non-empty string, got {value!r}")
    return value


def _check_int(where: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise SpecError(f"{where}: expected an integer, got {value!r}")
    if value < minimum:
        raise SpecError(f"{where}: must be >= {minimum}, got {value!r}")
    return int(value)


def _check_positive_float(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise SpecError(f"{where}: expected a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise SpecError(f"{where}: must be a finite number > 0, got {value!r}")
    return value


def _is_number_list(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
    )


def _float_matrix(where: str, value: Any) -> np.ndarray:
    if not isinstance(value, list) or not all(_is_number_list(row) for row in value):
        raise SpecError(f"{where}: expected a list of rows of numbers")
    if len({len(row) for row in value}) > 1:
        lengths = sorted({len(row) for row in value})
        raise SpecError(f"{where}: rows of different lengths {lengths}")
    arr = np.asarray(value, dtype=np.float64).reshape(len(value), -1 if value and value[0] else 0)
    _check_finite(where, arr)
    return arr


def _check_finite(where: str, arr: np.ndarray) -> None:
    bad = np.argwhere(~np.isfinite(arr))
    if bad.size:
        index = tuple(int(i) for i in bad[0])
        raise SpecError(f"{where}: non-finite value {float(arr[index])!r} at index {index}")


def _labels(where: str, value: Any, num_classes: int) -> np.ndarray:
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise SpecError(f"{where}: expected a list of integer class indices, got {value!r}")
    y = np.asarray(value, dtype=np.int64)
    bad = np.flatnonzero((y < 0) | (y >= num_classes))
    if bad.size:
        i = int(bad[0])
        raise SpecError(f"{where}: label {int(y[i])} at index {i} is outside [0, {num_classes})")
    return y
