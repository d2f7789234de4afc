"""The conformance checks: what every backend must do, each held to a tolerance the project already measured.

Each check has an id ("softmax", "cross_entropy:fused", "trajectory:iris", "variant:fast", ...) and runs in
each dtype the backend can compute in; it gives an ``Outcome``: passed, failed (with the first problems, in
words), or not applicable (with the reason). The ids are what a deviations file names (``plan`` lists them).

- functional: softmax and log_softmax on a table of logits (stable at +-1e4, -inf entries, every axis)
  against the float64 formula, within ``torch_samples.TOLERANCE_EPS``; ``cases.CASES`` through
  cross_entropy at each level, its gradient, nll_loss and its gradient, every reduction, against
  ``cases.reference`` (torch's ATen code in float64 NumPy), within ``cases.TOLERANCE``;
- torch: torch's own sample inputs (``torch_samples``): torch's answer, or its refusal as a BackendError;
- training: the lesson's loop on each spec against the NumPy reference in the same dtype: ``compare``'s
  checks (expected costs, every cost and the final parameters within the spec's envelopes, equal accuracy);
- variants: each training variant other than the lesson's, the same checks on the seed spec;
- save_predict: the trained model saved, loaded back bit for bit, and predicted by the backend within
  the spec's softmax envelope of the NumPy reference's prediction;
- determinism: the lesson's run again in the same process, bit for bit;
- bad_input: out-of-range labels and unknown options refused with one line (a BackendError), not garbage.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from softmax_rosetta.backend import Backend
from softmax_rosetta.checks import BackendError
from softmax_rosetta.compare import check_accuracy, check_expected, check_pair, skipped_checks
from softmax_rosetta.envelopes import in_force
from softmax_rosetta.models import load_model, save_model
from softmax_rosetta.registry import REFERENCE_BACKEND, get_backend
from softmax_rosetta.results import TrainingDiverged, TrainResult
from softmax_rosetta.spec import Spec, load_spec

from . import cases, torch_samples

FUNCTIONAL = (
    "softmax",
    "log_softmax",
    "cross_entropy:fused",
    "cross_entropy:nll",
    "cross_entropy:onehot",
    "cross_entropy_grad",
    "nll_loss",
    "nll_loss_grad",
)
TORCH = tuple(f"torch:{call}" for call in torch_samples.CALLS)
OTHERS = ("save_predict", "determinism", "bad_input")
SHOWN = 3  # problems shown per failing check


@dataclass(frozen=True)
class Outcome:
    check: str
    dtype: str
    passed: bool | None  # None: not applicable here (``detail`` says why)
    detail: str = ""
    group: str = ""


def plan(cls: type[Backend], specs: Iterable[str]) -> list[tuple[str, str]]:
    """(group, check id) of every check the kit makes on the backend, in the matrix's order."""
    ids = [("functional", c) for c in FUNCTIONAL] + [("torch samples", c) for c in TORCH]
    ids += [("training", f"trajectory:{s}") for s in specs]
    ids += [("variants", f"variant:{v}") for v in cls.variants if v != "lesson"]
    ids += [(c.replace("_", " "), c) for c in OTHERS]
    return ids


def _verdict(check: str, dtype: str, problems: list[str], ran: int) -> Outcome:
    if not problems:
        return Outcome(check, dtype, True, f"{ran} compared")
    more = f"; and {len(problems) - SHOWN} more" if len(problems) > SHOWN else ""
    return Outcome(check, dtype, False, f"{len(problems)} of {ran}: " + "; ".join(problems[:SHOWN]) + more)


def _guarded(what: str, fn: Callable[[], Any], problems: list[str]) -> Any:
    """fn(), or None with the exception as a problem: a backend's crash is a failed check, not the kit's."""
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - any error of the backend under test is a finding
        problems.append(f"{what}: raised {type(exc).__name__}: {exc}".replace("\n", " "))
        return None


# --- functional operations -------------------------------------------------------------------------
def softmax_table() -> list[tuple[str, np.ndarray, int]]:
    """(name, logits, axis): the values test_functional.py checks, as one table."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(5, 7)) * 3
    big = np.array([[1.0, 0.0, -1.0], [2.0, 2.0, 0.0]])
    return [
        ("[1, 2, 3]", np.array([1.0, 2.0, 3.0]), 0),
        *((f"normal (5, 7) axis {a}", z, a) for a in (0, 1, -1)),
        ("+1e4", big * 1e4, -1),
        ("-1e4", big * -1e4, -1),
        ("-inf entries", np.array([[-np.inf, 0.0, 1.0], [2.0, -np.inf, -np.inf]]), 1),
        ("(2, 3, 4) axis 1", rng.normal(size=(2, 3, 4)) * 5, 1),
        ("0-d", np.array(0.7), 0),
    ]


def _softmax_reference(z: np.ndarray, axis: int, log: bool) -> np.ndarray:
    z = z.astype(np.float64)
    shifted = z - np.max(z, axis=axis, keepdims=True) if z.ndim else z * 0
    lse = np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True)) if z.ndim else 0.0
    return shifted - lse if log else np.exp(shifted - lse)


def _close(actual: Any, wanted: Any, dtype: str) -> str | None:
    """None where actual matches wanted within ``cases.TOLERANCE`` (nan meets nan); else what differs."""
    actual = np.asarray(actual)
    if actual.dtype != np.dtype(dtype):
        return f"dtype {actual.dtype}"
    if actual.shape != np.shape(wanted):
        return f"shape {actual.shape}, expected {np.shape(wanted)}"
    try:
        tolerance = cases.TOLERANCE[dtype]
        np.testing.assert_allclose(
            actual.astype(np.float64),
            np.asarray(wanted, np.float64),
            rtol=tolerance["rtol"],
            atol=tolerance["atol"],
            equal_nan=True,
        )
    except AssertionError as exc:
        lines = [line.strip() for line in str(exc).splitlines() if "Max absolute" in line or "Mismatched" in line]
        return ", ".join(lines) or "values differ"
    return None


def functional(be: Backend) -> list[Outcome]:
    dtype = be.dtype
    out = []
    for call in ("softmax", "log_softmax"):
        problems: list[str] = []
        table = softmax_table()
        for name, z, axis in table:
            x = z.astype(dtype)
            got = _guarded(name, partial(getattr(be, call), x, axis=axis), problems)
            if got is None:
                continue
            if np.asarray(got).dtype != np.dtype(dtype):
                problems.append(f"{name}: in {np.asarray(got).dtype}")
            e = torch_samples.error(got, _softmax_reference(x, axis, call == "log_softmax"), dtype)
            if e > torch_samples.TOLERANCE_EPS[call]:
                problems.append(f"{name}: {e:.3g} eps from the float64 reference")
        out.append(_verdict(call, dtype, problems, len(table)))
    by_level: dict[str, list[str]] = {level: [] for level in ("fused", "nll", "onehot")}
    counts = dict.fromkeys(by_level, 0)
    grad: list[str] = []
    for case in cases.CASES:
        logits, target, options = case.args(dtype)
        for reduction in cases.REDUCTIONS:
            where = f"{case.name} {reduction}"
            wanted = cases.reference(logits, target, reduction=reduction, **options)
            for level in case.levels():
                counts[level] += 1
                opts = {k: v for k, v in options.items() if not (level == "nll" and k == "label_smoothing")}
                compute = partial(be.cross_entropy, logits, target, reduction=reduction, level=level, **opts)
                got = _guarded(where, compute, by_level[level])
                problem = None if got is None else _close(got, wanted, dtype)
                if problem:
                    by_level[level].append(f"{where}: {problem}")
            wanted = cases.reference(logits, target, reduction=reduction, gradient=True, **options)
            got = _guarded(where, partial(be.cross_entropy_grad, logits, target, reduction=reduction, **options), grad)
            problem = None if got is None else _close(got, wanted, dtype)
            if problem:
                grad.append(f"{where}: {problem}")
    out += [_verdict(f"cross_entropy:{lv}", dtype, p, counts[lv]) for lv, p in by_level.items()]
    out.append(_verdict("cross_entropy_grad", dtype, grad, len(cases.CASES) * len(cases.REDUCTIONS)))
    nll: dict[str, list[str]] = {"nll_loss": [], "nll_loss_grad": []}
    for case in cases.INDEX_CASES:
        logits, target, options = case.args(dtype)
        lp = cases.nll_input(logits)
        for reduction in cases.REDUCTIONS:
            where = f"{case.name} {reduction}"
            for name, gradient in (("nll_loss", False), ("nll_loss_grad", True)):
                fn = getattr(be, name)
                got = _guarded(where, partial(fn, lp, target, reduction=reduction, **options), nll[name])
                wanted = cases.reference(lp, target, reduction=reduction, gradient=gradient, log_probs=True, **options)
                problem = None if got is None else _close(got, wanted, dtype)
                if problem:
                    nll[name].append(f"{where}: {problem}")
    ran = len(cases.INDEX_CASES) * len(cases.REDUCTIONS)
    out += [_verdict(name, dtype, p, ran) for name, p in nll.items()]
    return out


# --- torch's samples ---------------------------------------------------------------------------------
def torch_semantics(be: Backend, samples: list[dict[str, Any]]) -> list[Outcome]:
    out = []
    for call in torch_samples.CALLS:
        mine = [c for c in samples if c["call"] == call and c["dtype"] == be.dtype]
        problems = [p for case in mine for p in torch_samples.check(be, case)]
        out.append(_verdict(f"torch:{call}", be.dtype, problems, len(mine)))
    return out


# --- training ------------------------------------------------------------------------------------------
class Runs:
    """Training runs made once and shared between checks: the backend's and the NumPy reference's."""

    def __init__(self, be: Backend):
        self.be = be
        self.ref = get_backend(REFERENCE_BACKEND, dtype=be.dtype)
        self.cache: dict[tuple[str, str, str], TrainResult | str] = {}

    def run(self, who: str, spec: Spec, variant: str = "lesson") -> TrainResult | str:
        """The run, or why there is none (it diverged, or raised)."""
        key = (who, spec.name, variant)
        if key not in self.cache:
            be = self.be if who == "backend" else self.ref
            try:
                self.cache[key] = be.train(spec, variant=variant)
            except TrainingDiverged as exc:
                self.cache[key] = f"diverged: {exc}"
            except Exception as exc:  # noqa: BLE001 - the backend's failure is the finding
                self.cache[key] = f"raised {type(exc).__name__}: {exc}".replace("\n", " ")
        return self.cache[key]


def _agreement(check: str, runs: Runs, spec: Spec, variant: str) -> Outcome:
    dtype = runs.be.dtype
    mine, ref = runs.run("backend", spec, variant), runs.run("reference", spec)
    if isinstance(ref, str):
        return Outcome(check, dtype, False, f"the NumPy reference's run {ref}")
    if isinstance(mine, str):
        return Outcome(check, dtype, False, mine)
    held = in_force(spec, dtype)
    found = ([check_expected(mine, spec)] if spec.expected_costs else []) + check_pair(mine, ref, spec, held)
    found.append(check_accuracy(mine, ref, spec))
    failed = [c.line() for c in found if not c.passed]
    if failed:
        return Outcome(check, dtype, False, "; ".join(failed))
    worst = max(found, key=lambda c: c.headroom)
    notes = [f"{len(found)} checks, worst {worst.check} at {worst.headroom:.2g} of its {worst.source} tolerance"]
    notes += [s.reason for s in skipped_checks(spec, [dtype])]
    return Outcome(check, dtype, True, "; ".join(notes))


def training(runs: Runs, specs: Iterable[Spec]) -> list[Outcome]:
    return [_agreement(f"trajectory:{spec.name}", runs, spec, "lesson") for spec in specs]


def variants(runs: Runs, seed: Spec) -> list[Outcome]:
    out = []
    for variant in runs.be.variants:
        if variant == "lesson":
            continue
        missing = runs.be.unavailable(variant)
        if missing:
            out.append(Outcome(f"variant:{variant}", runs.be.dtype, None, missing))
            continue
        out.append(_agreement(f"variant:{variant}", runs, seed, variant))
    return out


def save_predict(runs: Runs, spec: Spec) -> Outcome:
    be, dtype = runs.be, runs.be.dtype
    mine = runs.run("backend", spec)
    if isinstance(mine, str):
        return Outcome("save_predict", dtype, False, f"no model to save: the run {mine}")
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.safetensors"
        _guarded("save_model", lambda: save_model(path, mine, spec=spec), problems)
        model = _guarded("load_model", lambda: load_model(path), problems) if not problems else None
    if model is None:
        return _verdict("save_predict", dtype, problems, 1)
    for name, saved, trained in (("weight", model.weight, mine.weight), ("bias", model.bias, mine.bias)):
        if saved.dtype != trained.dtype or not np.array_equal(saved, trained):
            problems.append(f"the loaded {name} is not the trained one, bit for bit")
    x = spec.x_train
    got = _guarded("predict_proba", lambda: be.predict_proba(model.weight, model.bias, x), problems)
    wanted = runs.ref.predict_proba(model.weight, model.bias, x)
    held = in_force(spec, dtype)
    tolerance = held.forward["softmax"] if held.derived else spec.tolerance(dtype).output
    if got is not None:
        diff = float(np.max(np.abs(np.asarray(got, np.float64) - wanted))) if np.shape(got) == wanted.shape else np.inf
        if not diff <= tolerance:
            problems.append(
                f"predict_proba differs from the reference's by {diff:.3g} > {tolerance:.3g} ({held.source})"
            )
    return _verdict("save_predict", dtype, problems, 3)


def determinism(runs: Runs, spec: Spec) -> Outcome:
    first = runs.run("backend", spec)
    if isinstance(first, str):
        return Outcome("determinism", runs.be.dtype, False, f"the first run {first}")
    problems: list[str] = []
    again = _guarded("the second run", lambda: runs.be.train(spec), problems)
    if again is not None:
        for name in ("costs", "weight", "bias"):
            if not np.array_equal(getattr(first, name), getattr(again, name)):
                problems.append(f"a second run's {name} differ from the first's")
    return _verdict("determinism", runs.be.dtype, problems, 3)


def bad_input(be: Backend, spec: Spec) -> Outcome:
    """Each call must raise a one-line BackendError (a ValueError): never return a number, never crash."""
    z = np.array([[1.0, 2.0, 0.5], [0.1, -1.0, 3.0]], dtype=be.dtype)
    calls: list[tuple[str, Callable[[], Any]]] = [
        *(
            (f"cross_entropy level={lv}, label 3 of 3 classes", lambda lv=lv: be.cross_entropy(z, [0, 3], level=lv))
            for lv in ("fused", "nll", "onehot")
        ),
        ("cross_entropy, label -1 (not ignore_index)", lambda: be.cross_entropy(z, [-1, 0])),
        ("cross_entropy_grad, label 5", lambda: be.cross_entropy_grad(z, [5, 0])),
        ("nll_loss, label 3", lambda: be.nll_loss(z, [0, 3])),
        ("nll_loss_grad, label -2", lambda: be.nll_loss_grad(z, [-2, 0])),
        ("softmax, axis 2 of a 2-d input", lambda: be.softmax(z, axis=2)),
        ("cross_entropy, reduction 'avg'", lambda: be.cross_entropy(z, [0, 1], reduction="avg")),
        ("train, an unknown variant", lambda: be.train(spec, epochs=1, variant="no-such-variant")),
    ]
    problems = []
    for what, call in calls:
        try:
            value = call()
        except BackendError as exc:
            if "\n" in str(exc) or not str(exc):
                problems.append(f"{what}: the error is not one line: {str(exc)!r}")
            continue
        except Exception as exc:  # noqa: BLE001 - the framework's own error got past the checks
            problems.append(f"{what}: raised {type(exc).__name__}: {exc}, not a BackendError".replace("\n", " "))
            continue
        problems.append(f"{what}: returned {np.asarray(value).ravel()[:4]!r} instead of refusing")
    return _verdict("bad_input", be.dtype, problems, len(calls))


def run_all(be: Backend, spec_names: Iterable[str], samples: list[dict[str, Any]]) -> list[Outcome]:
    """Every check on one backend in its dtype, each tagged with its group."""
    specs = [load_spec(name) for name in spec_names]
    seed = load_spec("seed")
    runs = Runs(be)
    found = functional(be) + torch_semantics(be, samples) + training(runs, specs) + variants(runs, seed)
    found += [save_predict(runs, seed), determinism(runs, seed), bad_input(be, seed)]
    groups = {check: group for group, check in plan(type(be), [s.name for s in specs])}
    return [Outcome(o.check, o.dtype, o.passed, o.detail, groups.get(o.check, "")) for o in found]
