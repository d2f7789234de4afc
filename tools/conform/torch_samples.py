"""torch's own sample inputs for softmax and cross-entropy, stored as data, and how a backend's answer is judged.

tests/test_torch_samples.py makes the samples from torch's test suite (``torch.testing._internal``: the
OpInfo samples and error inputs of softmax, log_softmax, cross_entropy and nll_loss, and the module_db
inputs of Softmax, LogSoftmax, CrossEntropyLoss and NLLLoss) with torch's answer to each, in float32 and
float64. ``scripts/store_torch_samples.py`` stores the ones the API can take in ``data/torch_samples.npz``
(one .npz: every array under "CASE.FIELD", and a JSON index of the rest), so the conformance kit holds
a backend to torch's semantics without torch installed; tests/test_conform.py checks the stored file
against a fresh run of torch wherever torch is installed.

Tolerance: |backend - torch| <= k eps * max(1, max |torch|) over each compared array, eps the dtype's,
nan meeting nan and inf the same inf; k (``TOLERANCE_EPS``) measured over every sample, level, gradient,
backend and dtype (tests/test_torch_samples.py --measure): worst 1.5 eps for softmax, log_softmax and the
gradients (tolerance 4), 12 eps for the losses' values (tolerance 32).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from softmax_rosetta.checks import BackendError

STORED = Path(__file__).resolve().parent / "data" / "torch_samples.npz"
ARRAYS = ("input", "target", "value", "grad")
TOLERANCE_EPS = {"softmax": 4, "log_softmax": 4, "loss": 32, "grad": 4}
CALLS = ("softmax", "log_softmax", "cross_entropy", "nll_loss")


def levels(case: dict[str, Any]) -> tuple[str, ...]:
    """The levels of be.cross_entropy that can express the case (level "nll": no smoothing, no probabilities)."""
    if case["target"].dtype.kind == "f" or case["options"].get("label_smoothing"):
        return ("fused", "onehot")
    return ("fused", "nll", "onehot")


def answers(be: Any, case: dict[str, Any]) -> list[tuple[str, np.ndarray]]:
    """What the backend gives for the case: [(what, array), ...] in the order of ``expected``."""
    x, options = case["input"], dict(case["options"])
    if case["call"] in ("softmax", "log_softmax"):
        return [(case["call"], getattr(be, case["call"])(x, axis=case["axis"]))]
    t = case["target"]
    if case["call"] == "nll_loss":
        return [("nll_loss", be.nll_loss(x, t, **options)), ("nll_loss_grad", be.nll_loss_grad(x, t, **options))]
    got = [(f"cross_entropy level={level}", be.cross_entropy(x, t, level=level, **options)) for level in levels(case)]
    return got + [("cross_entropy_grad", be.cross_entropy_grad(x, t, **options))]


def kind(what: str) -> str:
    """The tolerance's kind of a result: softmax, log_softmax, loss or grad."""
    if what.endswith("_grad"):
        return "grad"
    return what if what in ("softmax", "log_softmax") else "loss"


def expected(case: dict[str, Any], what: str) -> np.ndarray:
    return case["grad"] if what.endswith("_grad") else case["value"]


def error(actual: Any, wanted: Any, dtype: str) -> float:
    """max |actual - wanted| / max(1, max |wanted|), in units of the dtype's eps; inf if nan or inf don't meet."""
    actual, wanted = np.asarray(actual, dtype=np.float64), np.asarray(wanted, dtype=np.float64)
    if actual.shape != wanted.shape:
        return np.inf
    infinite = np.isinf(wanted)
    if not np.array_equal(np.isnan(actual), np.isnan(wanted)) or not np.array_equal(actual[infinite], wanted[infinite]):
        return np.inf
    finite = np.isfinite(wanted)
    if not finite.any():
        return 0.0
    diff = np.abs(actual[finite] - wanted[finite])
    return float(diff.max() / max(1.0, float(np.abs(wanted[finite]).max())) / np.finfo(dtype).eps)


def check(be: Any, case: dict[str, Any]) -> list[str]:
    """The problems of the backend on one case, as lines (none: it gives torch's answer, or torch's refusal)."""
    try:
        got = answers(be, case)
    except BackendError as exc:
        if "error" in case:
            return []
        return [f"{case['name']}: raised {exc}, where torch gives an answer"]
    except Exception as exc:  # the framework's own error got past the checks
        return [f"{case['name']}: raised {type(exc).__name__}: {exc}, not a BackendError"]
    if "error" in case:
        return [f"{case['name']}: answered, where torch raises {case['error']}"]
    problems = []
    for what, value in got:
        if np.asarray(value).dtype != np.dtype(case["dtype"]):
            problems.append(f"{case['name']}: {what} in {np.asarray(value).dtype}, not {case['dtype']}")
        err = error(value, expected(case, what), case["dtype"])
        if err > TOLERANCE_EPS[kind(what)]:
            problems.append(f"{case['name']}: {what} is {err:.3g} eps from torch's answer")
    return problems


# --- the stored file ------------------------------------------------------------------------------
def store(cases: list[dict[str, Any]], path: Path = STORED) -> int:
    """Write the cases the API can take (no "skip") to ``path``; returns how many."""
    arrays: dict[str, Any] = {}
    index = []
    kept = [c for c in cases if "skip" not in c]
    for i, c in enumerate(kept):
        entry: dict[str, Any] = {k: c[k] for k in ("source", "name", "dtype", "call") if k in c}
        if "axis" in c:
            entry["axis"] = int(c["axis"])
        if "error" in c:
            entry["error"] = c["error"]
        options: dict[str, Any] = {}
        for k, v in c["options"].items():
            if isinstance(v, np.ndarray):
                arrays[f"{i}.option.{k}"] = v
                options[k] = None  # an array, under its key
            else:
                options[k] = v
        entry["options"] = options
        for field in ARRAYS:
            if field in c and c[field] is not None:
                arrays[f"{i}.{field}"] = np.asarray(c[field])
        index.append(entry)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays["index"] = np.array(json.dumps(index))
    np.savez_compressed(path, **arrays)
    return len(kept)


def load(path: Path = STORED) -> list[dict[str, Any]]:
    """The stored cases, each as tests/test_torch_samples.py makes it: input, target or axis, options,
    and torch's value and gradient, or its error."""
    with np.load(path, allow_pickle=False) as data:
        index = json.loads(str(data["index"]))
        cases = []
        for i, entry in enumerate(index):
            case = dict(entry)
            case["options"] = {k: (data[f"{i}.option.{k}"] if v is None else v) for k, v in entry["options"].items()}
            for field in ARRAYS:
                if f"{i}.{field}" in data.files:
                    case[field] = data[f"{i}.{field}"]
            cases.append(case)
    return cases
