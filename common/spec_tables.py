"""Reading a spec file's tables ([data], [init], [optimizer]) and checking each value.

Every problem is one ``SpecError`` naming the field and the value; ``softmax_rosetta.spec``
puts the checked tables together into a ``Spec``.
"""

from __future__ import annotations

import math
import os
import unicodedata
from typing import Any

import numpy as np

from . import init as initializers
from .data import SOURCES, load_dataset, standardize, synthetic, train_test_split

# the init fields each kind uses (besides kind and source), and which of them it needs
_INIT_FIELDS = {
    "explicit": ({"weight", "bias"}, {"weight", "bias"}),
    "zeros": (set(), set()),
    "normal": ({"std", "seed"}, {"std"}),
    "torch-linear": ({"seed"}, {"seed"}),
}
_MAX_SEED = 2**63 - 1


class SpecError(ValueError):
    """A spec file is missing a field, has an unknown one, or holds an impossible value."""


def data_table(data: dict[str, Any], d: int, c: int) -> dict[str, Any]:
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
            raise SpecError(
                f"data.source: unknown source {source!r}; known: {', '.join(SOURCES)} (or inline x_train/y_train)"
            )
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
                raise SpecError(
                    f"data.test_fraction: {fraction!r} of {x.shape[0] + x_test.shape[0]} rows "
                    f"leaves {y.shape[0]} for training and {y_test.shape[0]} for testing"
                )
    if data.get("standardize", False):
        x, *rest = standardize(x, *([] if x_test is None else [x_test]))
        x_test = rest[0] if rest else None
        _check_standardized(x, x_test)
    return {"x_train": x, "y_train": y, "x_test": x_test, "y_test": y_test}


def _check_standardized(x: np.ndarray, x_test: np.ndarray | None) -> None:
    """Standardised data are finite, or one error naming data.standardize and the feature."""
    for part, arr in (("training", x), ("test", x_test)):
        bad = np.argwhere(~np.isfinite(arr)) if arr is not None else np.empty((0, 2), dtype=np.intp)
        if len(bad):
            row, feature = (int(i) for i in bad[0])
            raise SpecError(
                f"data.standardize: feature {feature} overflows float64 once standardised "
                f"({part} row {row} scaled with the training rows' mean and standard deviation)"
            )


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
    samples = check_int("data.synthetic.samples", table["samples"], minimum=1)
    check_fits("data.synthetic.samples", samples, f"the data ({samples} x {d} float64)", samples * d * 8)
    seed = _check_seed("data.synthetic.seed", table.get("seed", 0))
    separation = check_positive_float("data.synthetic.separation", table.get("separation", 3.0))
    return synthetic(samples, d, c, seed=seed, separation=separation)


def init_table(init: dict[str, Any], d: int, c: int) -> tuple[np.ndarray, np.ndarray]:
    """The [init] table -> (weight (C, D), bias (C,)) float64."""
    kind = init["kind"]
    if kind not in _INIT_FIELDS:
        known = ", ".join(repr(k) for k in initializers.INIT_KINDS)
        raise SpecError(f"init.kind: unknown kind {kind!r}; known: {known}")
    allowed, required = _INIT_FIELDS[kind]
    for key in sorted(init.keys() - {"kind", "source"}):
        if key not in allowed:
            raise SpecError(
                f"init.{key}: not used by init.kind = {kind!r}"
                + (f" (it takes {', '.join(sorted(allowed))})" if allowed else "")
            )
    for key in sorted(required):
        if key not in init:
            raise SpecError(f"init.{key}: missing (init.kind = {kind!r} needs {' and '.join(sorted(required))})")
    if kind == "zeros":
        return initializers.zeros(c, d)
    if kind == "normal":
        std = check_positive_float("init.std", init["std"])
        return initializers.normal(c, d, std, _check_seed("init.seed", init.get("seed", 0)))
    if kind == "torch-linear":
        return initializers.torch_linear(c, d, _check_seed("init.seed", init["seed"]))
    w = _float_matrix("init.weight", init["weight"])
    if w.shape != (c, d):
        raise SpecError(f"init.weight: shape {w.shape} but the model needs (out_features, in_features) = {(c, d)}")
    if not is_number_list(init["bias"]) or len(init["bias"]) != c:
        raise SpecError(f"init.bias: expected {c} numbers, got {init['bias']!r}")
    return w, np.asarray(check_finite_list("init.bias", init["bias"]), dtype=np.float64)


def optimizer_table(opt: dict[str, Any], num_samples: int) -> dict[str, Any]:
    """The [optimizer] table -> the Spec's optimizer fields, checked as torch.optim.SGD checks them."""
    if opt["name"] != "sgd":
        raise SpecError(f"optimizer.name: unknown optimizer {opt['name']!r}; known: 'sgd'")
    out: dict[str, Any] = {
        "optimizer": "sgd",
        "lr": check_positive_float("optimizer.lr", opt["lr"]),
        "epochs": check_int("optimizer.epochs", opt["epochs"], minimum=0),
    }
    epochs = out["epochs"]
    check_fits("optimizer.epochs", epochs, f"the costs ({epochs + 1} float64)", (epochs + 1) * 8)
    for key in ("momentum", "dampening", "weight_decay"):
        out[key] = _check_nonnegative_float(f"optimizer.{key}", opt.get(key, 0.0))
    if out["dampening"] > 1:
        raise SpecError(f"optimizer.dampening: must be in [0, 1], got {opt['dampening']!r}")
    for key in ("nesterov", "shuffle"):
        out[key] = opt.get(key, False)
        if not isinstance(out[key], bool):
            raise SpecError(f"optimizer.{key}: expected true or false, got {out[key]!r}")
    if out["nesterov"] and (out["momentum"] == 0 or out["dampening"] != 0):
        raise SpecError(
            f"optimizer.nesterov: needs momentum > 0 and dampening = 0 (as torch's SGD), "
            f"got momentum {out['momentum']!r} and dampening {out['dampening']!r}"
        )
    if "batch_size" in opt:
        out["batch_size"] = check_int("optimizer.batch_size", opt["batch_size"], minimum=1)
        if out["batch_size"] > num_samples:
            raise SpecError(
                f"optimizer.batch_size: {out['batch_size']} is more than the {num_samples} "
                "training rows (leave it out for full batch)"
            )
    else:
        out["batch_size"] = None
    out["shuffle_seed"] = _check_seed("optimizer.seed", opt.get("seed", 0))
    return out


# --- validators: each raises one SpecError naming the field and the value ---------------


def check_fields(prefix: str, raw: dict[str, Any], schema: dict[str, Any]) -> None:
    for key, value in raw.items():
        where = f"{prefix}{key}"
        if key not in schema:
            raise SpecError(f"{where}: unknown field; known here: {', '.join(schema)}")
        expected = schema[key]
        if isinstance(expected, dict):
            if not isinstance(value, dict):
                raise SpecError(f"{where}: expected a table, got {value!r}")
            check_fields(f"{where}.", value, expected)
        elif not isinstance(value, expected) or (isinstance(value, bool) and expected is not bool):
            names = expected.__name__ if isinstance(expected, type) else " or ".join(t.__name__ for t in expected)
            if expected is bool:
                names = "true or false"
            raise SpecError(f"{where}: expected {names}, got {value!r}")


def check_str(where: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SpecError(f"{where}: expected a non-empty string, got {value!r}")
    return value


def check_name(where: str, value: Any) -> str:
    """A non-empty string without control characters (a newline would split a report's line)."""
    value = check_str(where, value)
    for i, ch in enumerate(value):
        if unicodedata.category(ch) == "Cc":
            raise SpecError(f"{where}: control character {ch!r} at position {i} in {value!r}")
    return value


def memory_limit() -> int | None:
    """The most bytes one of a spec's arrays may need: half the machine's physical memory (training
    holds copies: the backend's own, in its dtype). None where the system doesn't say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (AttributeError, ValueError, OSError):
        return None


def check_fits(where: str, value: Any, what: str, nbytes: int) -> None:
    """Refuse a size whose array would need more than ``memory_limit()`` bytes, before allocating it."""
    limit = memory_limit()
    if limit is not None and nbytes > limit:
        raise SpecError(
            f"{where}: {value!r} is too big: {what} would need {_bytes(nbytes)}, "
            f"over the limit of {_bytes(limit)} (half this machine's memory)"
        )


def _bytes(n: int) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


def check_int(where: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise SpecError(f"{where}: expected an integer, got {value!r}")
    if value < minimum:
        raise SpecError(f"{where}: must be >= {minimum}, got {value!r}")
    return int(value)


def check_positive_float(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise SpecError(f"{where}: expected a number, got {value!r}")
    value = to_float(where, value)
    if not math.isfinite(value) or value <= 0:
        raise SpecError(f"{where}: must be a finite number > 0, got {value!r}")
    return value


def _check_nonnegative_float(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise SpecError(f"{where}: expected a number, got {value!r}")
    value = to_float(where, value)
    if not math.isfinite(value) or value < 0:
        raise SpecError(f"{where}: must be a finite number >= 0, got {value!r}")
    return value


def to_float(where: str, value: Any) -> float:
    """float(value), or one error for an integer beyond float64 (TOML integers may have any size)."""
    try:
        return float(value)
    except OverflowError:
        raise SpecError(f"{where}: {value} is too large for float64") from None


def check_finite_list(where: str, values: list[Any]) -> tuple[float, ...]:
    """A list of numbers, each finite in float64, as floats."""
    out = tuple(to_float(f"{where}[{i}]", v) for i, v in enumerate(values))
    for i, v in enumerate(out):
        if not math.isfinite(v):
            raise SpecError(f"{where}: non-finite value {v!r} at index {i}")
    return out


def _check_seed(where: str, value: Any) -> int:
    value = check_int(where, value, minimum=0)
    if value > _MAX_SEED:
        raise SpecError(f"{where}: must be <= 2**63 - 1, got {value!r}")
    return value


def is_number_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)


def _float_matrix(where: str, value: Any) -> np.ndarray:
    if not isinstance(value, list) or not all(is_number_list(row) for row in value):
        raise SpecError(f"{where}: expected a list of rows of numbers")
    if len({len(row) for row in value}) > 1:
        lengths = sorted({len(row) for row in value})
        raise SpecError(f"{where}: rows of different lengths {lengths}")
    try:
        arr = np.asarray(value, dtype=np.float64).reshape(len(value), -1 if value and value[0] else 0)
    except OverflowError:  # an integer beyond float64 (TOML integers may have any size)
        for i, row in enumerate(value):
            for j, v in enumerate(row):
                to_float(f"{where}[{i}][{j}]", v)
        raise
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
