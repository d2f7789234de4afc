"""``softmax-rosetta diverge``: the first difference of two traced runs, trace files, the envelope.

The first difference is checked against ``tools/diverge/first.py`` run on independently made
traces (never a hard-coded step): what the command reports is where first.py says, and every
quantity computed before it is bit-equal in both runs.
"""

import json

import numpy as np
import pytest

from softmax_rosetta import load_spec
from softmax_rosetta.testing import require_backend
from softmax_rosetta.tools.cli import main
from softmax_rosetta.tools.diverge import tracefile
from softmax_rosetta.tools.diverge.analysis import diverge, envelope_for
from softmax_rosetta.tools.diverge.first import first_difference, ulps
from softmax_rosetta.tools.diverge.sources import Trace, every_steps, parse_steps
from softmax_rosetta.trace import QUANTITIES, step_count, trace


def make_trace_file(path, name, spec, dtype, steps):
    """What ``diverge --save-trace`` writes, made in-process: the backend's traced run of ``steps``."""
    backend = require_backend(name)(dtype=dtype)
    traced = trace(backend, spec, steps)
    meta = tracefile.trace_metadata(spec, dtype, name, "lesson", "cpu", backend.versions(), traced)
    tracefile.save_trace(str(path), traced, meta)
    return traced


def run_json(argv, capsys):
    code = main(["diverge", *argv, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


def test_a_trace_file_round_trip_is_exact(tmp_path):
    spec = load_spec("seed")
    path = tmp_path / "t.safetensors"
    traced = make_trace_file(path, "numpy", spec, "float64", range(3, 9))
    loaded = tracefile.load_trace(str(path))
    assert [s.step for s in loaded.steps] == list(range(3, 9)) == [s.step for s in traced]
    assert [s.epoch for s in loaded.steps] == [s.epoch for s in traced]
    for a, b in zip(traced, loaded.steps, strict=True):
        for q in QUANTITIES:
            assert b.values[q].dtype == np.float64 and b.values[q].shape == a.values[q].shape, q
            assert b.values[q].tobytes() == a.values[q].tobytes(), (a.step, q)  # the same bits
    meta = loaded.metadata
    assert meta["spec"] == "seed" and meta["spec_fingerprint"] == tracefile.spec_fingerprint(spec)
    assert (meta["dtype"], meta["backend"], meta["variant"], meta["device"]) == ("float64", "numpy", "lesson", "cpu")
    assert meta["machine"] and meta["platform"] and "numpy" in loaded.versions
    tracefile.check_against_spec(loaded, spec)  # its shapes and epochs are the spec's run's


def test_the_size_estimate_bounds_the_file(tmp_path):
    spec = load_spec("seed")
    path = tmp_path / "t.safetensors"
    make_trace_file(path, "numpy", spec, "float32", range(0, 40))
    size, estimate = path.stat().st_size, tracefile.estimate_size(spec, "float32", list(range(0, 40)))
    assert size <= estimate <= 1.5 * size + 8192, (size, estimate)


def test_the_fingerprint_is_of_the_math_not_the_name_or_expected_costs():
    spec = load_spec("seed")
    import dataclasses

    renamed = dataclasses.replace(spec, name="other", expected_costs=(), expected_source="")
    assert tracefile.spec_fingerprint(renamed) == tracefile.spec_fingerprint(spec)
    assert tracefile.spec_fingerprint(spec.replace(lr=0.2)) != tracefile.spec_fingerprint(spec)
    assert tracefile.spec_fingerprint(spec.replace(batch_size=3)) != tracefile.spec_fingerprint(spec)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ulps_counts_neighbours_exactly_in_both_dtypes(dtype):
    """float64's last bit too (its integers don't fit a float64: counted in integers first), across zero."""
    a = np.array([1.0, 0.5, -2.0, 0.0, -0.0, 1e30, 3.0], dtype=dtype)
    b = np.nextafter(a, dtype(np.inf))
    np.testing.assert_array_equal(ulps(a, b), np.ones(len(a)))
    np.testing.assert_array_equal(ulps(np.array([0.0, np.nan], dtype), np.array([-0.0, 1.0], dtype)), [0.0, np.inf])
    smallest = np.nextafter(dtype(0), dtype(1))
    assert ulps(np.array([-smallest]), np.array([smallest]))[0] == 2


@pytest.mark.parametrize(
    ("text", "steps"),
    [("7", [7]), ("0:5", [0, 1, 2, 3, 4]), ("998:", [998, 999, 1000]), (":2", [0, 1]), ("0:10:4", [0, 4, 8])],
)
def test_steps_are_a_python_range(text, steps):
    assert parse_steps(text, 1001) == steps


def test_every_keeps_the_last_step():
    assert every_steps(400, 1001) == [0, 400, 800, 1000]


PAIRS = [
    ("numpy", "torch", "float32"),
    ("numpy", "jax", "float32"),
    ("torch", "jax", "float32"),
    ("numpy", "jax", "float64"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("a_name", "b_name", "dtype"), PAIRS, ids=["-".join(p) for p in PAIRS])
def test_the_first_difference_of_real_backends_is_where_first_py_says(a_name, b_name, dtype, tmp_path, capsys):
    """Two backends on the seed spec: the step and quantity reported are first.py's on traces made here
    independently, every earlier step and quantity is bit-equal, and the differing one differs."""
    require_backend(a_name), require_backend(b_name)
    spec = load_spec("seed")
    steps = range(0, 30)
    a, b = (trace(require_backend(n)(dtype=dtype), spec, steps) for n in (a_name, b_name))
    expected = first_difference(a, b)
    argv = [a_name, b_name, "--dtype", dtype, "--steps", "0:30", "--out", str(tmp_path)]
    code, data = run_json(argv, capsys)
    assert code == 0 and data["leaves_envelope"] is None  # correct backends: inside the envelope
    if expected is None:
        assert data["identical"] and data["first_difference"] is None
        return
    found = data["first_difference"]
    assert (found["step"], found["quantity"]) == (expected.step, expected.quantity)
    assert found["differing"] == expected.differing >= 1 and found["max_ulps"] >= 1
    for x, y in zip(a[: expected.step], b[: expected.step], strict=True):  # every earlier step: the same bits
        assert all(np.array_equal(x.values[q], y.values[q]) for q in QUANTITIES), x.step
    k = QUANTITIES.index(expected.quantity)
    at_a, at_b = a[expected.step].values, b[expected.step].values
    assert all(np.array_equal(at_a[q], at_b[q]) for q in QUANTITIES[:k])
    assert not np.array_equal(at_a[expected.quantity], at_b[expected.quantity])
    assert data["cause"]["quantity"] == expected.quantity  # causes.explain was asked about that quantity
    assert (tmp_path / f"{a_name}-against-{b_name}-seed-{dtype}.json").is_file()


@pytest.mark.slow
def test_a_run_against_its_own_trace_file_is_bit_identical(tmp_path, capsys):
    saved = tmp_path / "traces"
    args = ["numpy", "numpy", "--steps", "0:25", "--save-trace", str(saved), "--out", str(tmp_path / "r")]
    assert main(["diverge", *args]) == 0
    out = capsys.readouterr().out
    assert "bit-identical" in out and "trace saved:" in out
    files = sorted(saved.glob("*.safetensors"))
    assert [f.name for f in files] == [
        "seed-numpy-lesson-cpu-float32-B.safetensors",
        "seed-numpy-lesson-cpu-float32.safetensors",
    ]
    code, data = run_json([str(files[1]), "numpy", "--out", str(tmp_path / "r")], capsys)
    assert code == 0 and data["identical"] and data["first_difference"] is None
    assert data["steps"] == {"count": 25, "first": 0, "last": 24}  # the file's steps, traced here too
    assert data["series"]["max_abs"]["weight"] == [0.0] * 25


@pytest.mark.slow
def test_two_trace_files_diverge_as_the_runs_do(tmp_path, capsys):
    """Across machines: two files (here from two backends, the same effect) diverge against each other with
    the spec and dtype from their metadata, and give what diverging the two runs here gives."""
    require_backend("torch")
    spec = load_spec("seed")
    fa, fb = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    make_trace_file(fa, "numpy", spec, "float64", range(0, 30))
    make_trace_file(fb, "torch", spec, "float64", range(10, 40))
    code, files = run_json([str(fa), str(fb), "--out", str(tmp_path / "r")], capsys)  # no --spec, no --dtype
    assert files["dtype"] == "float64" and files["spec"] == "seed"
    assert files["steps"] == {"count": 20, "first": 10, "last": 29}  # the steps both files hold
    code_runs, runs = run_json(
        ["numpy", "torch", "--dtype", "float64", "--steps", "10:30", "--out", str(tmp_path / "r")], capsys
    )
    assert code == code_runs
    for key in ("first_difference", "leaves_envelope"):
        assert files[key] == runs[key], key
    assert files["series"]["max_abs"] == runs["series"]["max_abs"]


def _perturbed_file(tmp_path, name, scale):
    """A numpy trace of seed steps 0..29 whose weight after step 12 on is moved by ``scale`` times the
    parameters' envelope: a wrong run made by hand after loading (a trace of a spec with another lr, written
    under the original spec's fingerprint, would be a forged file; the lr case is tested on the traces below)."""
    spec = load_spec("seed")
    path = tmp_path / f"{name}.safetensors"
    make_trace_file(path, "numpy", spec, "float32", range(0, 30))
    loaded = tracefile.load_trace(str(path))
    bound = envelope_for(spec, "float32").params
    for s in loaded.steps[12:]:
        s.values["weight"] = (s.values["weight"] + np.float32(scale * bound)).astype(np.float32)
    tracefile.save_trace(str(path), loaded.steps, loaded.metadata)
    return path


@pytest.mark.slow
def test_a_difference_over_the_envelope_exits_1_and_one_under_it_0(tmp_path, capsys):
    over = _perturbed_file(tmp_path, "over", 4.0)
    code, data = run_json([str(over), "numpy", "--out", str(tmp_path / "r")], capsys)
    assert code == 1
    left = data["leaves_envelope"]
    assert (left["step"], left["quantity"]) == (12, "weight") and left["max_abs"] > left["envelope"]
    assert data["first_difference"]["step"] == 12 and data["first_difference"]["quantity"] == "weight"
    under = _perturbed_file(tmp_path, "under", 0.5)
    code, data = run_json([str(under), "numpy", "--out", str(tmp_path / "r")], capsys)
    assert code == 0 and data["leaves_envelope"] is None and data["first_difference"]["step"] == 12


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_lr_off_by_one_part_in_1e5_leaves_the_envelope(dtype):
    """The NumPy lesson with lr * (1 + 1e-5) traced against the right one (traces in memory: no file claims
    the wrong run is the spec's): a difference leaves the spec's envelope."""
    spec = load_spec("seed")
    backend = require_backend("numpy")(dtype=dtype)
    right = Trace("numpy", "here", trace(backend, spec))
    wrong = Trace("numpy lr*(1+1e-5)", "here", trace(backend, spec.replace(lr=spec.lr * (1 + 1e-5))))
    result = diverge(wrong, right, spec, dtype, envelope_for(spec, dtype))
    assert result.first is not None and result.leaves is not None, result.to_dict()["largest_ratio"]
    assert len(result.steps) == step_count(spec)


def test_mini_batches_compare_steps_of_two_shapes():
    """seed in batches of 3 (3, 3, 2 rows per epoch): steps of two shapes, numpy against torch, all compared."""
    require_backend("torch")
    spec = load_spec("seed").replace(epochs=5, batch_size=3, momentum=0.9)
    runs = [Trace(n, "here", trace(require_backend(n)(dtype="float32"), spec)) for n in ("numpy", "torch")]
    result = diverge(*runs, spec, "float32", envelope_for(spec, "float32"))
    assert len(result.steps) == 18 and result.leaves is None
    expected = first_difference(runs[0].steps, runs[1].steps)
    assert result.first == expected


def test_a_mini_batch_steps_loss_is_held_to_its_own_envelope():
    """In mini-batches a step's loss is its batch's mean, not the epoch's cost (a sum of the batches' shares,
    which rounds less): each step gets its own loss envelope, derived now, and a full-batch spec keeps the
    stored per-epoch cost envelope (one step per epoch: the step's loss is the epoch's cost)."""
    digits = load_spec("digits")
    view = envelope_for(digits, "float32")
    assert view.step_losses is not None and len(view.step_losses) == step_count(digits)
    steps = np.arange(step_count(digits))
    epochs = np.repeat(np.arange(digits.epochs + 1), [len(digits.batches(e)) for e in range(digits.epochs + 1)])
    np.testing.assert_array_equal(view.at("loss:fused", steps, epochs), view.step_losses)
    # a batch of 64 rows rounds more than the epoch's cost over 1438: the per-epoch envelope was too tight for it
    assert np.all(view.step_losses > view.costs[epochs])
    seed_view = envelope_for(load_spec("seed"), "float32")
    assert seed_view.step_losses is None and seed_view.source.startswith("the spec's [tolerance.derived.float32]")


@pytest.mark.slow
def test_torch_against_jax_on_digits_stays_within_the_envelope(capsys):
    """The case that held each batch's loss to the epoch's cost envelope and failed (1.3 times it at step 91,
    torch against jax, float32): two correct backends, inside their envelopes at every step."""
    require_backend("torch"), require_backend("jax")
    spec = load_spec("digits")
    runs = [Trace(n, "here", trace(require_backend(n)(dtype="float32"), spec)) for n in ("torch", "jax")]
    result = diverge(*runs, spec, "float32", envelope_for(spec, "float32"))
    assert result.first is not None and result.leaves is None, result.to_dict()["largest_ratio"]
