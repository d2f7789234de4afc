"""The shared spec: one TOML file per workload, loaded into a frozen, validated dataclass.

A spec holds everything every backend needs to run the same experiment: the data, the
model's shape, the initial parameters, the optimizer, the expected cost trajectory and
the tolerances (per dtype) that say how closely backends must agree.

    spec = load_spec("seed")              # a bundled spec, by name
    spec = load_spec("path/to/my.toml")   # or a file of your own

Every problem with a spec file is one ``SpecError`` naming the field and the value.
Every field is documented in docs/specs.md. The data come inline (the seed) or from
``softmax_rosetta.data`` (iris, digits, synthetic); initial parameters inline or from ``softmax_rosetta.init``;
both are computed here, once, in float64 NumPy, and every backend receives the same arrays.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from dataclasses import replace as _dataclass_replace
from pathlib import Path
from typing import Any

import numpy as np

from . import init as initializers
from .data import SOURCES, Batches, load_dataset, standardize, synthetic, train_test_split

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
    x_test (M, D) and y_test (M,) or None when the spec has no test split,
    init_weight (C, D) stored (out, in) as torch stores it, init_bias (C,).
    The data are already split and (if the spec asks) standardised.

    The optimizer is torch's SGD: ``lr``, ``momentum``, ``dampening``, ``nesterov``,
    ``weight_decay`` as ``torch.optim.SGD`` defines them; ``batches`` says which rows each
    step uses (full batch unless ``batch_size`` is set).
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
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    data_source: str = "inline"
    standardized: bool = False
    init_kind: str = "explicit"
    init_source: str = ""
    momentum: float = 0.0
    dampening: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    batch_size: int | None = None
    shuffle: bool = False
    shuffle_seed: int = 0

    @property
    def num_features(self) -> int:
        return self.x_train.shape[1]

    @property
    def num_samples(self) -> int:
        return self.x_train.shape[0]

    @property
    def num_test(self) -> int:
        return 0 if self.x_test is None else self.x_test.shape[0]

    @property
    def expected_epochs(self) -> tuple[int, ...]:
        """The epochs at which ``expected_costs`` were recorded: 0, every, 2*every, ..."""
        return tuple(i * self.expected_every for i in range(len(self.expected_costs)))

    @property
    def batches(self) -> Batches:
        """Which training rows each step of each epoch uses (``batches(epoch)``), for every backend."""
        size = self.num_samples if self.batch_size is None else self.batch_size
        return Batches(self.num_samples, size, self.shuffle, self.shuffle_seed)

    @property
    def optimizer_options(self) -> dict[str, Any]:
        """momentum, dampening, nesterov, weight_decay: the keywords of torch.optim.SGD besides lr."""
        return {"momentum": self.momentum, "dampening": self.dampening,
                "nesterov": self.nesterov, "weight_decay": self.weight_decay}

    def tolerance(self, dtype: str) -> Tolerance:
        if dtype not in self.tolerances:
            raise SpecError(f"tolerance.{dtype}: the spec {self.name!r} has no tolerances for dtype {dtype!r}")
        return self.tolerances[dtype]

    def replace(self, **changes: Any) -> "Spec":
        """A copy with some optimizer fields changed, validated again.

        Keywords: epochs, lr, momentum, dampening, nesterov, weight_decay, batch_size (None:
        full batch), shuffle, shuffle_seed.
        """
        unknown = changes.keys() - _REPLACEABLE.keys()
        if unknown:
            raise SpecError(f"{sorted(unknown)[0]}: can't be replaced; replaceable: {', '.join(_REPLACEABLE)}")
        raw = {toml: getattr(self, attr) for attr, toml in _REPLACEABLE.items()}
        raw["name"] = self.optimizer
        raw.update({_REPLACEABLE[k]: v for k, v in changes.items()})
        if raw["batch_size"] is None:
            del raw["batch_size"]
        opt = _optimizer(raw, self.num_samples)
        return _dataclass_replace(self, **{k: v for k, v in opt.items() if k in changes})


# --- loading -------------------------------------------------------------------------

_NUMBER = (int, float)
_SCHEMA: dict[str, Any] = {
    "name": str,
    "description": str,
    "data": {"source": str, "x_train": list, "y_train": list, "x_test": list, "y_test": list,
             "test_fraction": _NUMBER, "split_seed": int, "standardize": bool,
             "synthetic": {"samples": int, "seed": int, "separation": _NUMBER}},
    "model": {"in_features": int, "out_features": int},
    "init": {"kind": str, "weight": list, "bias": list, "std": _NUMBER, "seed": int, "source": str},
    "optimizer": {"name": str, "lr": _NUMBER, "epochs": int, "momentum": _NUMBER, "dampening": _NUMBER,
                  "nesterov": bool, "weight_decay": _NUMBER, "batch_size": int, "shuffle": bool, "seed": int},
    "expected": {"every": int, "costs": list, "source": str},
    "tolerance": dict,
}
_TOLERANCE_FIELDS = {"expected_cost", "cost", "param", "output", "note"}
_REQUIRED_TOP = {"name", "data", "model", "init", "optimizer", "tolerance"}
# the init fields each kind uses (besides kind and source), and which of them it needs
_INIT_FIELDS = {"explicit": ({"weight", "bias"}, {"weight", "bias"}), "zeros": (set(), set()),
                "normal": ({"std", "seed"}, {"std"}), "torch-linear": ({"seed"}, {"seed"})}
# Spec attribute -> optimizer field, for Spec.replace
_REPLACEABLE = {"epochs": "epochs", "lr": "lr", "momentum": "momentum", "dampening": "dampening",
                "nesterov": "nesterov", "weight_decay": "weight_decay", "batch_size": "batch_size",
                "shuffle": "shuffle", "shuffle_seed": "seed"}
_MAX_SEED = 2**63 - 1


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

    model, init, opt = raw["model"], raw["init"], raw["optimizer"]
    for section, keys in (("model", ("in_features", "out_features")),
                          ("init", ("kind",)), ("optimizer", ("name", "lr", "epochs"))):
        for key in keys:
            if key not in raw[section]:
                raise SpecError(f"{section}.{key}: missing from the spec")

    d = _check_int("model.in_features", model["in_features"], minimum=1)
    c = _check_int("model.out_features", model["out_features"], minimum=1)
    data = _data(raw["data"], d, c)
    w, b = _init(init, d, c)
    options = _optimizer(opt, data["x_train"].shape[0])

    exp = raw.get("expected", {})
    every = _check_int("expected.every", exp.get("every", 1), minimum=1)
    costs = exp.get("costs", [])
    if not _is_number_list(costs):
        raise SpecError(f"expected.costs: expected a list of numbers, got {costs!r}")
    costs = tuple(float(v) for v in costs)
    epochs = options["epochs"]
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

    for arr in (*data.values(), w, b):
        if arr is not None:
            arr.setflags(write=False)
    return Spec(
        name=_check_str("name", raw["name"]),
        description=str(raw.get("description", "")).strip(),
        num_classes=c, init_weight=w, init_bias=b,
        expected_every=every, expected_costs=costs, expected_source=str(exp.get("source", "")).strip(),
        tolerances=tolerances, path=path,
        init_kind=init["kind"], init_source=str(init.get("source", "")).strip(),
        data_source=raw["data"].get("source", "inline"), standardized=raw["data"].get("standardize", False),
        **data, **options,
    )


def _data(data: dict[str, Any], d: int, c: int) -> dict[str, Any]:
    """The [data] table -> x_train, y_train, x_test, y_test (the test pair None without a split)."""
    source = data.get("source")
    inline_keys = [k for k in ("x_train", "y_train", "x_test", "y_test") if k in data]
    if source is None:
        for key in ("x_train", "y_train"):
            if key not in data:
                raise SpecError(f"data.{key}: missing from the spec (give the data inline, or data.source)")
        if "synthetic" in data:
            raise SpecError("data.synthetic: only used with data.source = 'synthetic'")
        x, y = _inline_pair(data, "train", d, c)
        x_test = y_test = None
        if "x_test" in data or "y_test" in data:
            if "test_fraction" in data:
                raise SpecError("data.test_fraction: not allowed with inline data.x_test (give one test set)")
            x_test, y_test = _inline_pair(data, "test", d, c)
    else:
        if source not in SOURCES:
            raise SpecError(f"data.source: unknown source {source!r}; known: {', '.join(SOURCES)} (or inline x_train/y_train)")
        if inline_keys:
            raise SpecError(f"data.{inline_keys[0]}: not allowed with data.source = {source!r}")
        if source == "synthetic":
            x, y = _synthetic(data.get("synthetic"), d, c)
        else:
            if "synthetic" in data:
                raise SpecError(f"data.synthetic: only used with data.source = 'synthetic', not {source!r}")
            x, y = load_dataset(source)
            if x.shape[1] != d:
                raise SpecError(f"model.in_features: {d} but data source {source!r} has {x.shape[1]} features")
            if int(y.max()) + 1 != c:
                raise SpecError(f"model.out_features: {c} but data source {source!r} has {int(y.max()) + 1} classes")
        x_test = y_test = None

    if "split_seed" in data and "test_fraction" not in data:
        raise SpecError("data.split_seed: only used with data.test_fraction")
    if "test_fraction" in data:
        fraction = data["test_fraction"]
        if not 0 <= fraction < 1:
            raise SpecError(f"data.test_fraction: must be in [0, 1), got {fraction!r}")
        seed = _check_seed("data.split_seed", data.get("split_seed", 0))
        if fraction > 0:
            x, y, x_test, y_test = train_test_split(x, y, float(fraction), seed)
            if y.shape[0] == 0 or y_test.shape[0] == 0:
                raise SpecError(f"data.test_fraction: {fraction!r} of {x.shape[0] + x_test.shape[0]} rows "
                                f"leaves {y.shape[0]} for training and {y_test.shape[0]} for testing")
    if data.get("standardize", False):
        x, *rest = standardize(x, *([] if x_test is None else [x_test]))
        x_test = rest[0] if rest else None
    return {"x_train": x, "y_train": y, "x_test": x_test, "y_test": y_test}


def _inline_pair(data: dict[str, Any], part: str, d: int, c: int) -> tuple[np.ndarray, np.ndarray]:
    xk, yk = f"x_{part}", f"y_{part}"
    for key in (xk, yk):
        if key not in data:
            raise SpecError(f"data.{key}: missing from the spec (data.{xk} and data.{yk} go together)")
    x = _float_matrix(f"data.{xk}", data[xk])
    if x.shape[0] == 0:
        raise SpecError(f"data.{xk}: the data set is empty")
    if x.shape[1] != d:
        raise SpecError(f"data.{xk}: rows have {x.shape[1]} features but model.in_features is {d}")
    y = _labels(f"data.{yk}", data[yk], c)
    if y.shape[0] != x.shape[0]:
        raise SpecError(f"data.{yk}: {y.shape[0]} labels for {x.shape[0]} rows of data.{xk}")
    return x, y


def _synthetic(table: dict[str, Any] | None, d: int, c: int) -> tuple[np.ndarray, np.ndarray]:
    if table is None:
        raise SpecError("data.synthetic: missing (data.source = 'synthetic' needs [data.synthetic] with samples)")
    if "samples" not in table:
        raise SpecError("data.synthetic.samples: missing from the spec")
    samples = _check_int("data.synthetic.samples", table["samples"], minimum=1)
    seed = _check_seed("data.synthetic.seed", table.get("seed", 0))
    separation = _check_positive_float("data.synthetic.separation", table.get("separation", 3.0))
    return synthetic(samples, d, c, seed=seed, separation=separation)


def _init(init: dict[str, Any], d: int, c: int) -> tuple[np.ndarray, np.ndarray]:
    """The [init] table -> (weight (C, D), bias (C,)) float64."""
    kind = init["kind"]
    if kind not in _INIT_FIELDS:
        raise SpecError(f"init.kind: unknown kind {kind!r}; known: {', '.join(repr(k) for k in initializers.INIT_KINDS)}")
    allowed, required = _INIT_FIELDS[kind]
    for key in sorted(init.keys() - {"kind", "source"}):
        if key not in allowed:
            raise SpecError(f"init.{key}: not used by init.kind = {kind!r}"
                            + (f" (it takes {', '.join(sorted(allowed))})" if allowed else ""))
    for key in sorted(required):
        if key not in init:
            raise SpecError(f"init.{key}: missing (init.kind = {kind!r} needs {' and '.join(sorted(required))})")
    if kind == "zeros":
        return initializers.zeros(c, d)
    if kind == "normal":
        std = _check_positive_float("init.std", init["std"])
        return initializers.normal(c, d, std, _check_seed("init.seed", init.get("seed", 0)))
    if kind == "torch-linear":
        return initializers.torch_linear(c, d, _check_seed("init.seed", init["seed"]))
    w = _float_matrix("init.weight", init["weight"])
    if w.shape != (c, d):
        raise SpecError(f"init.weight: shape {w.shape} but the model needs (out_features, in_features) = {(c, d)}")
    b = np.asarray(init["bias"], dtype=np.float64) if _is_number_list(init["bias"]) else None
    if b is None or b.shape != (c,):
        raise SpecError(f"init.bias: expected {c} numbers, got {init['bias']!r}")
    _check_finite("init.bias", b)
    return w, b


def _optimizer(opt: dict[str, Any], num_samples: int) -> dict[str, Any]:
    """The [optimizer] table -> the Spec's optimizer fields, checked as torch.optim.SGD checks them."""
    if opt["name"] != "sgd":
        raise SpecError(f"optimizer.name: unknown optimizer {opt['name']!r}; known: 'sgd'")
    out: dict[str, Any] = {
        "optimizer": "sgd",
        "lr": _check_positive_float("optimizer.lr", opt["lr"]),
        "epochs": _check_int("optimizer.epochs", opt["epochs"], minimum=0),
    }
    for key in ("momentum", "dampening", "weight_decay"):
        out[key] = _check_nonnegative_float(f"optimizer.{key}", opt.get(key, 0.0))
    if out["dampening"] > 1:
        raise SpecError(f"optimizer.dampening: must be in [0, 1], got {opt['dampening']!r}")
    for key in ("nesterov", "shuffle"):
        out[key] = opt.get(key, False)
        if not isinstance(out[key], bool):
            raise SpecError(f"optimizer.{key}: expected true or false, got {out[key]!r}")
    if out["nesterov"] and (out["momentum"] == 0 or out["dampening"] != 0):
        raise SpecError(f"optimizer.nesterov: needs momentum > 0 and dampening = 0 (as torch's SGD), "
                        f"got momentum {out['momentum']!r} and dampening {out['dampening']!r}")
    if "batch_size" in opt:
        out["batch_size"] = _check_int("optimizer.batch_size", opt["batch_size"], minimum=1)
        if out["batch_size"] > num_samples:
            raise SpecError(f"optimizer.batch_size: {out['batch_size']} is more than the {num_samples} "
                            "training rows (leave it out for full batch)")
    else:
        out["batch_size"] = None
    out["shuffle_seed"] = _check_seed("optimizer.seed", opt.get("seed", 0))
    return out


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
        elif not isinstance(value, expected) or (isinstance(value, bool) and expected is not bool):
            names = expected.__name__ if isinstance(expected, type) else " or ".join(t.__name__ for t in expected)
            if expected is bool:
                names = "true or false"
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


def _check_nonnegative_float(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise SpecError(f"{where}: expected a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise SpecError(f"{where}: must be a finite number >= 0, got {value!r}")
    return value


def _check_seed(where: str, value: Any) -> int:
    value = _check_int(where, value, minimum=0)
    if value > _MAX_SEED:
        raise SpecError(f"{where}: must be <= 2**63 - 1, got {value!r}")
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
