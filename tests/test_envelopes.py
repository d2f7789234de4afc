"""Which tolerances compare uses (``softmax_rosetta.envelopes``): the spec's ``[tolerance] use``, the stored
table when its fingerprint matches, else derived now; the derived checks' numbers; what the report says.
The honesty of the envelopes themselves, with real runs: tests/test_tolerances.py."""

import dataclasses

import numpy as np
import pytest

from softmax_rosetta import get_backend, load_spec
from softmax_rosetta.compare import check_pair, compare_all
from softmax_rosetta.envelopes import DERIVED_NOW, HAND_SET, STORED, InForce, in_force, stored
from softmax_rosetta.results import TrainResult
from softmax_rosetta.spec import SPEC_DIR
from softmax_rosetta.tolerances import fingerprint

SEED = (SPEC_DIR / "seed.toml").read_text()


def _spec(tmp_path, text, name="s.toml"):
    path = tmp_path / name
    path.write_text(text)
    return load_spec(path)


@pytest.mark.parametrize(
    ("use", "sources"),
    [(None, ("derived", "derived")), ("derived", ("derived", "derived")), ("hand-set", ("hand-set", "hand-set"))],
)
def test_use_says_which_tolerances(use, sources, tmp_path):
    text = (
        SEED
        if use is None
        else SEED.replace("[tolerance.float32]", f'[tolerance]\nuse = "{use}"\n\n[tolerance.float32]')
    )
    spec = _spec(tmp_path, text)
    assert (spec.tolerance_source("float32"), spec.tolerance_source("float64")) == sources
    assert spec.tolerance("float32") == load_spec("seed").tolerance("float32")  # the hand-set ones, as before
    held = in_force(spec, "float32")
    assert (held.source, held.origin) == ((HAND_SET, HAND_SET) if use == "hand-set" else ("derived", STORED))


def test_without_a_derived_table_the_default_is_hand_set_and_use_derived_derives_now(tmp_path):
    bare = SEED.split("\n[tolerance.derived.float32]")[0] + "\n"
    spec = _spec(tmp_path, bare)
    assert spec.derived_tolerances == {} and spec.tolerance_source("float32") == "hand-set"
    assert in_force(spec, "float32").why == "the spec's [tolerance.float32]: it has no derived table"
    derived = _spec(
        tmp_path, bare.replace("[tolerance.float32]", '[tolerance]\nuse = "derived"\n\n[tolerance.float32]')
    )
    held = in_force(derived.replace(epochs=30), "float32")  # 30 epochs: quick to derive
    assert held.origin == DERIVED_NOW and held.why.startswith("the stored envelope is absent")
    assert held.checkpoints[-1][0] == 30


def test_an_edited_spec_s_table_is_stale_and_replace_keeps_the_choice(tmp_path):
    spec = load_spec("seed")
    assert stored(spec, "float32")[0] is spec.derived_tolerances["float32"]
    assert spec.derived_tolerances["float32"].fingerprint == fingerprint(spec, "float32")
    edited = _spec(tmp_path, SEED.replace("\nlr = 0.1\n", "\nlr = 0.11\n"))
    assert stored(edited, "float32") == (
        None,
        "the stored envelope is stale (its fingerprint doesn't match the spec: its data, initial parameters, "
        "optimizer or batches changed since it was derived)",
    )
    replaced = spec.replace(epochs=25)
    assert replaced.derived_tolerances == {} and replaced.tolerance_source("float64") == "derived"
    # what the fingerprint leaves out: the name, the description, the expected costs
    renamed = _spec(tmp_path, SEED.replace('name = "seed"', 'name = "other"'))
    assert stored(renamed, "float64")[0] is not None


def _run(costs, label="numpy"):
    n = len(costs)
    return TrainResult(label, "lesson", "float32", "cpu", "s", 0.1, n - 1, np.asarray(costs, np.float32),
                       np.zeros((3, 4)), np.zeros(3), accuracy=1.0, seconds=0.0)  # fmt: skip


def test_a_derived_costs_check_is_the_epoch_where_difference_over_envelope_peaks():
    spec = load_spec("seed").replace(epochs=4)
    held = InForce("float32", "derived", STORED, "test", checkpoints=((0, 1.0), (2, 0.1), (4, 10.0)), params=1.0)
    a = _run([1.0, 1.0, 1.0, 1.0, 1.0])
    b = _run([1.5, 1.0, 1.05, 1.0, 5.0], "torch")  # diff / envelope: 0.5, 0, 0.5, 0, 0.4; largest |diff| at 4
    costs, params = check_pair(a, b, spec, held)
    assert (costs.source, costs.epoch, costs.max_abs, costs.tolerance) == ("derived", 0, 0.5, 1.0)
    assert costs.passed and costs.headroom == 0.5 and costs.max_rel == pytest.approx(0.8)
    b = _run([1.0, 1.0, 1.2, 1.0, 5.0], "torch")  # 0.2 / 0.1 at epoch 2: fails there
    costs = check_pair(a, b, spec, held)[0]
    assert not costs.passed and costs.epoch == 2 and costs.headroom == pytest.approx(2.0, rel=1e-6)
    assert costs.to_dict()["epoch"] == 2 and costs.to_dict()["source"] == "derived" and "at epoch 2" in costs.line()
    assert (params.source, params.tolerance, params.epoch) == ("derived", 1.0, None)
    b = _run([1.0, np.nan, 1.0, 1.0, 1.0], "torch")  # a NaN fails, at its epoch, whatever the ratios elsewhere
    costs = check_pair(a, b, spec, held)[0]
    assert not costs.passed and costs.epoch == 1


def test_tolerance_scale_scales_the_envelopes_and_hand_set_checks_keep_their_numbers():
    spec = dataclasses.replace(load_spec("seed").replace(epochs=20), expected_costs=(1.6167852878570557,))
    runs = [get_backend("numpy", dtype="float32").train(spec, variant=v) for v in ("lesson", "fast")]
    one, half = compare_all({}, runs, spec), compare_all({}, runs, spec, tolerance_scale=0.5)
    for a, b in zip(one, half, strict=True):
        assert b.tolerance == pytest.approx(a.tolerance * 0.5) and a.max_abs == b.max_abs
    sources = {c.check: c.source for c in one}
    assert sources == {"costs": "derived", "params": "derived", "expected": "hand-set", "accuracy": "hand-set"}
    hand_set = dataclasses.replace(spec, tolerance_sources={"float32": "hand-set", "float64": "hand-set"})
    costs = next(c for c in compare_all({}, runs, hand_set) if c.check == "costs")
    assert (costs.source, costs.tolerance, costs.epoch) == ("hand-set", spec.tolerance("float32").cost, None)


def test_a_spec_whose_reference_diverges_falls_back_to_hand_set_and_says_why():
    spec = load_spec("seed").replace(lr=1e200, epochs=3)
    held = in_force(spec, "float64")
    assert held.source == HAND_SET and held.why.startswith("no derived envelope (optimizer.lr: the float64 reference")
    assert held.why.endswith("the spec's [tolerance.float64] instead")


def test_the_report_says_which_tolerances_each_dtype_used(short_seed_spec):
    from softmax_rosetta.tools.report import model, runs
    from softmax_rosetta.tools.report.json_report import to_json
    from softmax_rosetta.tools.report.markdown import markdown

    spec = load_spec(short_seed_spec)
    variants = ("lesson", "fast")
    trained = [get_backend("numpy", dtype=d).train(spec, variant=v) for d in ("float32", "float64") for v in variants]
    ran = runs.BackendRun("numpy", True, 0.0, device="cpu", variants=["lesson", "fast"], runs=trained)
    status = model.BackendStatus("numpy", "ran", requested=True, device="cpu", run=ran)
    report = model.build_report(spec, ["float32", "float64"], "cpu", 1.0, [status], ran, ["compare"], "now")
    why = "the stored envelope is stale (derived for 1000 epochs; the spec trains 40)"
    assert [t.why for t in report.tolerances.values()] == [why, why]
    text = markdown(report)
    assert text.split("\n")[2].startswith("Tolerances: float32: derived envelopes, derived now (")
    assert "| tolerance is |" in text and "| at epoch |" in text
    data = to_json(report)
    assert data["tolerances_used"]["float32"]["origin"] == "derived now"
    assert data["tolerances_used"]["float64"]["cost_epochs"][-1] == 40
    assert {c["source"] for c in data["checks"] if c["check"] in ("costs", "params")} == {"derived"}
    assert {c["source"] for c in data["checks"] if c["check"] in ("expected", "accuracy")} == {"hand-set"}
