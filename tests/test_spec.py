"""The shared spec: the seed's values, and one clear error for each kind of bad spec."""

import copy
import tomllib

import numpy as np
import pytest

from common import SpecError, bundled_specs, load_spec
from common.spec import SPEC_DIR, spec_from_dict


def test_seed_holds_the_lesson(seed_spec):
    assert "seed" in bundled_specs()
    assert seed_spec.x_train.shape == (8, 4)
    assert seed_spec.y_train.tolist() == [2, 2, 2, 1, 1, 1, 0, 0]
    assert seed_spec.init_weight.shape == (3, 4) and seed_spec.init_bias.shape == (3,)
    assert seed_spec.init_weight[0, 0] == 0.2576315999031067
    assert seed_spec.lr == 0.1 and seed_spec.epochs == 1000
    assert seed_spec.expected_epochs == tuple(range(0, 1001, 100))
    assert seed_spec.expected_costs[0] == 1.6167852878570557
    assert seed_spec.expected_costs[-1] == 0.25414788722991943
    assert set(seed_spec.tolerances) == {"float32", "float64"}
    assert all(t.note for t in seed_spec.tolerances.values()), "every tolerance says where it comes from"


def test_initial_parameters_are_float32_values(seed_spec):
    """The spec writes torch's float32 draws in full: they survive a round trip through float32."""
    for arr in (seed_spec.init_weight, seed_spec.init_bias):
        assert np.array_equal(arr.astype(np.float32).astype(np.float64), arr)


def test_spec_is_frozen(seed_spec):
    with pytest.raises(AttributeError):
        seed_spec.lr = 1.0
    with pytest.raises(ValueError):
        seed_spec.x_train[0, 0] = 5.0


def test_load_by_path(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text((SPEC_DIR / "seed.toml").read_text())
    assert load_spec(path).name == "seed"
    assert load_spec(str(path)).path == str(path)


def test_replace_validates(seed_spec):
    assert seed_spec.replace(epochs=5, lr=0.5).epochs == 5
    with pytest.raises(SpecError, match=r"optimizer.epochs: must be >= 0, got -1"):
        seed_spec.replace(epochs=-1)
    with pytest.raises(SpecError, match=r"optimizer.lr: must be a finite number > 0, got 0.0"):
        seed_spec.replace(lr=0.0)


def _seed_raw():
    return tomllib.loads((SPEC_DIR / "seed.toml").read_text())


def _set(raw, dotted, value):
    keys = dotted.split(".")
    for k in keys[:-1]:
        raw = raw[k]
    if value is DELETE:
        del raw[keys[-1]]
    else:
        raw[keys[-1]] = value


DELETE = object()

BAD_SPECS = [
    ("colour", "red", r"^colour: unknown field"),
    ("optimizer.betas", [0.9, 0.999], r"^optimizer.betas: unknown field"),
    ("optimizer.lr", -0.1, r"^optimizer.lr: must be a finite number > 0, got -0.1"),
    ("optimizer.lr", 0, r"^optimizer.lr: must be a finite number > 0, got 0"),
    ("optimizer.lr", "fast", r"^optimizer.lr: expected int or float, got 'fast'"),
    ("optimizer.epochs", -1, r"^optimizer.epochs: must be >= 0, got -1"),
    ("optimizer.epochs", 1.5, r"^optimizer.epochs: expected int, got 1.5"),
    ("optimizer.name", "adam", r"^optimizer.name: unknown optimizer 'adam'"),
    ("optimizer.lr", DELETE, r"^optimizer.lr: missing"),
    ("data.y_train", [2, 2, 2, 1, 1, 1, 0, 3], r"^data.y_train: label 3 at index 7 is outside \[0, 3\)"),
    ("data.y_train", [2, 2, 2, 1, 1, 1, 0, -1], r"^data.y_train: label -1 at index 7 is outside \[0, 3\)"),
    ("data.y_train", [2, 2, 2], r"^data.y_train: 3 labels for 8 rows"),
    ("data.y_train", [2.0] * 8, r"^data.y_train: expected a list of integer class indices"),
    ("data.x_train", [], r"^data.x_train: the data set is empty"),
    ("data.x_train", [[1, 2, 3]] * 8, r"^data.x_train: rows have 3 features but model.in_features is 4"),
    ("data.x_train", [[1, 2, 3, 4], [1, 2, 3]] + [[1, 2, 3, 4]] * 6, r"^data.x_train: rows of different lengths"),
    ("data.x_train", [[1, 2, float("nan"), 4]] * 8, r"^data.x_train: non-finite value nan at index \(0, 2\)"),
    ("data.x_train", [[1, 2, float("inf"), 4]] * 8, r"^data.x_train: non-finite value inf"),
    ("model.out_features", 0, r"^model.out_features: must be >= 1, got 0"),
    ("init.kind", "random", r"^init.kind: unknown kind 'random'"),
    ("init.weight", [[0.0] * 4] * 2, r"^init.weight: shape \(2, 4\) but the model needs"),
    ("init.bias", [0.0, 0.0], r"^init.bias: expected 3 numbers"),
    ("expected.every", 200, r"^expected.costs: 11 costs every 200 epochs run past optimizer.epochs = 1000"),
    ("tolerance.float16", {"cost": 1.0}, r"^tolerance.float16: unknown dtype 'float16'"),
    ("tolerance.float32.cost", -1e-6, r"^tolerance.float32.cost: must be a finite number > 0"),
    ("tolerance.float32.slack", 1.0, r"^tolerance.float32.slack: unknown field"),
    ("tolerance.float32.param", DELETE, r"^tolerance.float32.param: missing"),
]


@pytest.mark.parametrize("field,value,message", BAD_SPECS, ids=[f"{f}={v!r}"[:40] for f, v, _ in BAD_SPECS])
def test_bad_spec_is_one_clear_error(field, value, message):
    raw = copy.deepcopy(_seed_raw())
    _set(raw, field, value)
    with pytest.raises(SpecError, match=message) as info:
        spec_from_dict(raw)
    assert "\n" not in str(info.value)


def test_unknown_spec_name_lists_the_bundled_ones():
    with pytest.raises(SpecError, match=r"spec: unknown spec 'nope'; bundled specs: .*seed"):
        load_spec("nope")


def test_missing_file_and_bad_toml(tmp_path):
    with pytest.raises(SpecError, match=r"spec: no such file"):
        load_spec(tmp_path / "absent.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    with pytest.raises(SpecError, match=r"is not valid TOML"):
        load_spec(bad)
