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

import os
import tomllib
from dataclasses import dataclass, field
from dataclasses import replace as _dataclass_replace
from pathlib import Path
from typing import Any

import numpy as np

from .data import Batches
from .spec_derived import DerivedTolerance, derived_tables, tolerance_use
from .spec_tables import (
    SpecError,
    check_fields,
    check_finite_list,
    check_fits,
    check_int,
    check_name,
    check_positive_float,
    data_table,
    init_table,
    is_number_list,
    memory_limit,
    optimizer_table,
)

SPEC_DIR = Path(__file__).parent / "specs"
DTYPES = ("float32", "float64")


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
    derived_tolerances: dict[str, DerivedTolerance] = field(default_factory=dict)  # [tolerance.derived.*]
    # {dtype: "derived" | "hand-set"}: which tolerances compare uses (``tolerance_source``), settled when the
    # spec is loaded: [tolerance] use, else "derived" where the file has a derived table for the dtype
    tolerance_sources: dict[str, str] = field(default_factory=dict)

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
        return {
            "momentum": self.momentum,
            "dampening": self.dampening,
            "nesterov": self.nesterov,
            "weight_decay": self.weight_decay,
        }

    def tolerance(self, dtype: str) -> Tolerance:
        if dtype not in self.tolerances:
            raise SpecError(f"tolerance.{dtype}: the spec {self.name!r} has no tolerances for dtype {dtype!r}")
        return self.tolerances[dtype]

    def tolerance_source(self, dtype: str) -> str:
        """Which tolerances ``compare`` holds ``dtype``'s runs to: "derived" (the rounding envelope,
        ``softmax_rosetta.tolerances``) or "hand-set" (``tolerance(dtype)``). The spec's ``[tolerance] use``
        says; absent, "derived" where the file has a ``[tolerance.derived.DTYPE]`` table, else "hand-set".
        ``replace`` keeps the choice (and drops the tables: compare derives them again)."""
        if dtype in self.tolerance_sources:
            return self.tolerance_sources[dtype]
        return "derived" if dtype in self.derived_tolerances else "hand-set"

    def replace(self, **changes: Any) -> Spec:
        """A copy with some optimizer fields changed, validated again.

        Keywords: epochs, lr, momentum, dampening, nesterov, weight_decay, batch_size (None:
        full batch), shuffle, shuffle_seed. The copy has no derived tolerances (they were the old run's).
        """
        unknown = changes.keys() - _REPLACEABLE.keys()
        if unknown:
            raise SpecError(f"{sorted(unknown)[0]}: can't be replaced; replaceable: {', '.join(_REPLACEABLE)}")
        raw = {toml: getattr(self, attr) for attr, toml in _REPLACEABLE.items()}
        raw["name"] = self.optimizer
        raw.update({_REPLACEABLE[k]: v for k, v in changes.items()})
        if raw["batch_size"] is None:
            del raw["batch_size"]
        opt = optimizer_table(raw, self.num_samples)
        # derived tolerances were derived for the old training: they no longer hold (the choice of them does)
        sources = {dtype: self.tolerance_source(dtype) for dtype in DTYPES}
        changed = {k: v for k, v in opt.items() if k in changes}
        return _dataclass_replace(self, **changed, derived_tolerances={}, tolerance_sources=sources)


# --- loading -------------------------------------------------------------------------

_NUMBER = (int, float)
_SCHEMA: dict[str, Any] = {
    "name": str,
    "description": str,
    "data": {
        "source": str,
        "x_train": list,
        "y_train": list,
        "x_test": list,
        "y_test": list,
        "test_fraction": _NUMBER,
        "split_seed": int,
        "standardize": bool,
        "synthetic": {"samples": int, "seed": int, "separation": _NUMBER},
    },
    "model": {"in_features": int, "out_features": int},
    "init": {"kind": str, "weight": list, "bias": list, "std": _NUMBER, "seed": int, "source": str},
    "optimizer": {
        "name": str,
        "lr": _NUMBER,
        "epochs": int,
        "momentum": _NUMBER,
        "dampening": _NUMBER,
        "nesterov": bool,
        "weight_decay": _NUMBER,
        "batch_size": int,
        "shuffle": bool,
        "seed": int,
    },
    "expected": {"every": int, "costs": list, "source": str},
    "tolerance": dict,
}
_TOLERANCE_FIELDS = {"expected_cost", "cost", "param", "output", "note"}
_REQUIRED_TOP = {"name", "data", "model", "init", "optimizer", "tolerance"}
# Spec attribute -> optimizer field, for Spec.replace
_REPLACEABLE = {
    "epochs": "epochs",
    "lr": "lr",
    "momentum": "momentum",
    "dampening": "dampening",
    "nesterov": "nesterov",
    "weight_decay": "weight_decay",
    "batch_size": "batch_size",
    "shuffle": "shuffle",
    "shuffle_seed": "seed",
}


def bundled_specs() -> list[str]:
    """Names of the specs shipped with the project."""
    return sorted(p.stem for p in SPEC_DIR.glob("*.toml"))


def load_spec(name_or_path: str | Path) -> Spec:
    """Load a bundled spec by name (``"seed"``) or a TOML file by path.

    A path ends in ``.toml`` or has a path separator in it (``my.toml``, ``specs/mine``,
    ``./iris``), or is a ``pathlib.Path``; anything else is a bundled spec's name, whatever files
    the working folder holds.
    """
    path, raw = read_spec(name_or_path)
    return spec_from_dict(raw, path=path)


def spec_path(name_or_path: str | Path) -> str:
    """The file a spec name or path means (load_spec's rule), checked to be a readable file's path."""
    text = str(name_or_path)
    separators = [s for s in ("/", os.sep, os.altsep) if s]
    if isinstance(name_or_path, Path) or text.endswith(".toml") or any(s in text for s in separators):
        path = Path(text)
        if path.is_dir():
            raise SpecError(f"spec: {text!r} is a folder, not a spec file")
        if not path.exists():
            raise SpecError(f"spec: no such file {text!r}")
        if not path.is_file():
            raise SpecError(f"spec: {text!r} is not a regular file")
        # a relative path as given can't be taken for a name: keep (or add) its folder
        return text if text.endswith(".toml") or any(s in text for s in separators) else os.path.join(".", text)
    if text not in bundled_specs():
        here = f"; ./{text} is not read as a spec: a path ends in .toml or has a / in it" if Path(text).exists() else ""
        raise SpecError(
            f"spec: unknown spec {text!r}; bundled specs: {', '.join(bundled_specs())}"
            f" (or give a path to a .toml file){here}"
        )
    return str(SPEC_DIR / f"{text}.toml")


def read_spec(name_or_path: str | Path) -> tuple[str, dict[str, Any]]:
    """(the file's path, its parsed TOML): the file is UTF-8 TOML; nothing is checked beyond that."""
    path = spec_path(name_or_path)
    limit = memory_limit()
    try:
        if limit is not None and os.path.getsize(path) > limit:
            raise SpecError(f"spec: {path!r} is {os.path.getsize(path)} bytes, more than half this machine's memory")
        data = Path(path).read_bytes()
    except PermissionError:
        raise SpecError(f"spec: can't read {path!r}: permission denied") from None
    except OSError as exc:
        raise SpecError(f"spec: can't read {path!r}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(
            f"spec: {path!r} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None
    try:
        return path, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"spec: {path!r} is not valid TOML: {exc}") from None
    except RecursionError:
        raise SpecError(f"spec: {path!r} nests arrays or tables too deeply to read") from None


def spec_from_dict(raw: dict[str, Any], path: str = "") -> Spec:
    """Validate a parsed TOML document and build a ``Spec``."""
    check_fields("", raw, _SCHEMA)
    missing = _REQUIRED_TOP - raw.keys()
    if missing:
        raise SpecError(f"{sorted(missing)[0]}: missing from the spec")

    name = check_name("name", raw["name"])
    model, init, opt = raw["model"], raw["init"], raw["optimizer"]
    for section, keys in (
        ("model", ("in_features", "out_features")),
        ("init", ("kind",)),
        ("optimizer", ("name", "lr", "epochs")),
    ):
        for key in keys:
            if key not in raw[section]:
                raise SpecError(f"{section}.{key}: missing from the spec")

    d = check_int("model.in_features", model["in_features"], minimum=1)
    c = check_int("model.out_features", model["out_features"], minimum=1)
    where, value = ("model.out_features", c) if c >= d else ("model.in_features", d)
    check_fits(where, value, f"the weight ({c} x {d} float64)", c * d * 8)
    data = data_table(raw["data"], d, c)
    w, b = init_table(init, d, c)
    options = optimizer_table(opt, data["x_train"].shape[0])

    exp = raw.get("expected", {})
    every = check_int("expected.every", exp.get("every", 1), minimum=1)
    costs = exp.get("costs", [])
    if not is_number_list(costs):
        raise SpecError(f"expected.costs: expected a list of numbers, got {costs!r}")
    costs = check_finite_list("expected.costs", costs)
    epochs = options["epochs"]
    if costs and (len(costs) - 1) * every > epochs:
        raise SpecError(f"expected.costs: {len(costs)} costs every {every} epochs run past optimizer.epochs = {epochs}")

    tolerances = {}
    derived = {}
    use = ""
    for dtype, tol in raw["tolerance"].items():
        if dtype == "derived":  # softmax-rosetta tolerances --write (common/spec_derived.py)
            derived = derived_tables(tol, DTYPES)
            continue
        if dtype == "use":  # which of the two compare uses
            use = tolerance_use(tol)
            continue
        if dtype not in DTYPES:
            raise SpecError(f"tolerance.{dtype}: unknown dtype {dtype!r}; known: {', '.join(DTYPES)}")
        if not isinstance(tol, dict):
            raise SpecError(f"tolerance.{dtype}: expected a table, got {tol!r}")
        unknown = tol.keys() - _TOLERANCE_FIELDS
        if unknown:
            known = ", ".join(sorted(_TOLERANCE_FIELDS))
            raise SpecError(f"tolerance.{dtype}.{sorted(unknown)[0]}: unknown field; known: {known}")
        values = {}
        for key in sorted(_TOLERANCE_FIELDS - {"note"}):
            if key not in tol:
                raise SpecError(f"tolerance.{dtype}.{key}: missing from the spec")
            values[key] = check_positive_float(f"tolerance.{dtype}.{key}", tol[key])
        tolerances[dtype] = Tolerance(**values, note=str(tol.get("note", "")).strip())
    if not tolerances:
        raise SpecError("tolerance: the spec gives no tolerances; add [tolerance.float32] and/or [tolerance.float64]")

    for arr in (*data.values(), w, b):
        if arr is not None:
            arr.setflags(write=False)
    return Spec(
        name=name,
        description=str(raw.get("description", "")).strip(),
        num_classes=c,
        init_weight=w,
        init_bias=b,
        expected_every=every,
        expected_costs=costs,
        expected_source=str(exp.get("source", "")).strip(),
        tolerances=tolerances,
        derived_tolerances=derived,
        tolerance_sources={d: use or ("derived" if d in derived else "hand-set") for d in DTYPES},
        path=path,
        init_kind=init["kind"],
        init_source=str(init.get("source", "")).strip(),
        data_source=raw["data"].get("source", "inline"),
        standardized=raw["data"].get("standardize", False),
        **data,
        **options,
    )
