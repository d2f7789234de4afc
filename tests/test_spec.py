"""The shared spec: the seed's values, and one clear error for each kind of bad spec."""

import copy
import os
import tomllib
from pathlib import Path

import numpy as np
import pytest

from softmax_rosetta import SpecError, bundled_specs, load_spec
from softmax_rosetta.spec import SPEC_DIR, spec_from_dict


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


class _Delete:
    """The field is taken out. Its repr names it in the test ids, the same in every pytest-xdist
    worker (an object()'s repr holds its address, which differs between processes)."""

    def __repr__(self):
        return "<deleted>"


DELETE = _Delete()

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
    ("expected.costs", [1.6, 0.6, float("nan")], r"^expected.costs: non-finite value nan at index 2$"),
    ("expected.costs", [float("inf")], r"^expected.costs: non-finite value inf at index 0$"),
    ("expected.costs", [1.0, 10**400], r"^expected.costs\[1\]: 1000.* is too large for float64$"),
    ("name", "seed\nPASS: all good", r"^name: control character '\\n' at position 4 in 'seed\\nPASS: all good'$"),
    ("name", "tab\there", r"^name: control character '\\t' at position 3"),
    ("optimizer.lr", 10**400, r"^optimizer.lr: 1000.* is too large for float64$"),
    ("data.x_train", [[1, 2, 10**400, 4]] * 8, r"^data.x_train\[0\]\[2\]: 1000.* is too large for float64$"),
    ("init.bias", [0.0, 10**400, 0.0], r"^init.bias\[1\]: 1000.* is too large for float64$"),
    # sizes that can't fit in memory: refused before anything is allocated
    ("model.out_features", 10**11, r"^model.out_features: 100000000000 is too big: the weight \(100000000000 x 4 "),
    ("optimizer.epochs", 10**12, r"^optimizer.epochs: 1000000000000 is too big: the costs \(1000000000001 float64\)"),
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


# --- the fields beyond the seed's: data sources, splits, init kinds, SGD options -------------------


def _raw(name):
    return tomllib.loads((SPEC_DIR / f"{name}.toml").read_text())


BAD_NEW_SPECS = [
    ("iris", "data.source", "mnist", r"^data.source: unknown source 'mnist'; known: iris, digits, synthetic"),
    ("iris", "data.x_train", [[1, 2, 3, 4]], r"^data.x_train: not allowed with data.source = 'iris'"),
    ("iris", "data.test_fraction", 1.0, r"^data.test_fraction: must be in \[0, 1\), got 1.0"),
    ("iris", "data.test_fraction", -0.1, r"^data.test_fraction: must be in \[0, 1\), got -0.1"),
    ("iris", "data.test_fraction", "half", r"^data.test_fraction: expected int or float, got 'half'"),
    ("iris", "data.standardize", 1, r"^data.standardize: expected true or false, got 1"),
    ("iris", "data.split_seed", -1, r"^data.split_seed: must be >= 0, got -1"),
    ("iris", "data.split_seed", 2**64, r"^data.split_seed: must be <= 2\*\*63 - 1"),
    ("iris", "model.in_features", 5, r"^model.in_features: 5 but data source 'iris' has 4 features"),
    ("iris", "model.out_features", 4, r"^model.out_features: 4 but data source 'iris' has 3 classes"),
    (
        "iris",
        "data.synthetic",
        {"samples": 10},
        r"^data.synthetic: only used with data.source = 'synthetic', not 'iris'",
    ),
    ("iris", "init.kind", "normal", r"^init.std: missing \(init.kind = 'normal' needs std\)"),
    ("iris", "init.kind", "zeros", r"^init.seed: not used by init.kind = 'zeros'$"),
    ("iris", "init.std", 0.1, r"^init.std: not used by init.kind = 'torch-linear' \(it takes seed\)"),
    ("iris", "init.seed", DELETE, r"^init.seed: missing \(init.kind = 'torch-linear' needs seed\)"),
    ("iris", "init.seed", 1.5, r"^init.seed: expected int, got 1.5"),
    ("iris", "optimizer.momentum", -0.5, r"^optimizer.momentum: must be a finite number >= 0, got -0.5"),
    ("iris", "optimizer.momentum", True, r"^optimizer.momentum: expected int or float, got True"),
    ("iris", "optimizer.dampening", 1.5, r"^optimizer.dampening: must be in \[0, 1\], got 1.5"),
    ("iris", "optimizer.nesterov", "yes", r"^optimizer.nesterov: expected true or false, got 'yes'"),
    ("iris", "optimizer.nesterov", True, r"^optimizer.nesterov: needs momentum > 0 and dampening = 0"),
    ("iris", "optimizer.weight_decay", -1e-4, r"^optimizer.weight_decay: must be a finite number >= 0"),
    ("iris", "optimizer.batch_size", 0, r"^optimizer.batch_size: must be >= 1, got 0"),
    ("iris", "optimizer.batch_size", 121, r"^optimizer.batch_size: 121 is more than the 120 training rows"),
    ("iris", "optimizer.batch_size", 16.0, r"^optimizer.batch_size: expected int, got 16.0"),
    ("iris", "optimizer.shuffle", "true", r"^optimizer.shuffle: expected true or false, got 'true'"),
    ("iris", "optimizer.seed", -3, r"^optimizer.seed: must be >= 0, got -3"),
    ("synthetic", "data.synthetic.samples", 0, r"^data.synthetic.samples: must be >= 1, got 0"),
    ("synthetic", "data.synthetic.samples", DELETE, r"^data.synthetic.samples: missing"),
    (
        "synthetic",
        "data.synthetic.samples",
        10**11,
        r"^data.synthetic.samples: 100000000000 is too big: the data \(100000000000 x 16 float64\) would need 11.6 TiB",
    ),
    ("synthetic", "data.synthetic.separation", 0, r"^data.synthetic.separation: must be a finite number > 0, got 0"),
    ("synthetic", "data.synthetic.colour", 1, r"^data.synthetic.colour: unknown field"),
    ("synthetic", "data.synthetic", DELETE, r"^data.synthetic: missing"),
    (
        "synthetic",
        "optimizer.dampening",
        0.5,
        r"^optimizer.nesterov: needs momentum > 0 and dampening = 0 \(as torch's SGD\), "
        r"got momentum 0.9 and dampening 0.5",
    ),
    ("synthetic", "init.std", -1.0, r"^init.std: must be a finite number > 0, got -1.0"),
    (
        "seed",
        "data.x_test",
        [[1, 2, 3, 4]],
        r"^data.y_test: missing from the spec \(data.x_test and data.y_test go together\)",
    ),
    ("seed", "data.source", "iris", r"^data.x_train: not allowed with data.source = 'iris'"),
    ("seed", "data.test_fraction", 0.9, r"^data.test_fraction: 0.9 of 8 rows leaves 0 for training and 8 for testing"),
    ("seed", "data.split_seed", 3, r"^data.split_seed: only used with data.test_fraction"),
    ("seed", "data.synthetic", {"samples": 5}, r"^data.synthetic: only used with data.source = 'synthetic'"),
]


@pytest.mark.parametrize(
    "base,field,value,message", BAD_NEW_SPECS, ids=[f"{b}:{f}={v!r}"[:50] for b, f, v, _ in BAD_NEW_SPECS]
)
def test_bad_new_field_is_one_clear_error(base, field, value, message):
    raw = _raw(base)
    _set(raw, field, value)
    with pytest.raises(SpecError, match=message) as info:
        spec_from_dict(raw)
    assert "\n" not in str(info.value)


def test_bundled_specs_load_with_their_shapes():
    shapes = {
        "seed": (8, 0, 4, 3),
        "iris": (120, 30, 4, 3),
        "digits": (1438, 359, 64, 10),
        "synthetic": (384, 128, 16, 4),
    }
    assert set(bundled_specs()) == set(shapes)
    for name, (n, m, d, c) in shapes.items():
        spec = load_spec(name)
        assert (spec.num_samples, spec.num_test, spec.num_features, spec.num_classes) == (n, m, d, c)
        assert spec.x_train.dtype == np.float64 and spec.y_train.dtype == np.int64
        for arr in (spec.x_train, spec.y_train, spec.x_test, spec.y_test):
            assert arr is None or not arr.flags.writeable
        assert spec.expected_costs and spec.expected_source
        assert all(t.note and "placeholder" not in t.note for t in spec.tolerances.values())
        assert set(spec.tolerances) == {"float32", "float64"}


def test_new_specs_expected_costs_come_from_the_numpy_reference():
    for name in ("iris", "digits", "synthetic"):
        assert load_spec(name).expected_source.startswith(f"softmax-rosetta expected {name} --write")


def test_optimizer_defaults_are_torchs():
    spec = load_spec("seed")
    assert (spec.momentum, spec.dampening, spec.nesterov, spec.weight_decay) == (0.0, 0.0, False, 0.0)
    assert spec.batch_size is None and spec.shuffle is False and spec.batches.full_batch
    assert spec.x_test is None and spec.y_test is None and spec.data_source == "inline"


def test_inline_test_set_and_split_of_inline_data():
    raw = _seed_raw()
    raw["data"]["x_test"] = [[1, 2, 3, 4], [4, 3, 2, 1]]
    raw["data"]["y_test"] = [0, 2]
    spec = spec_from_dict(raw)
    assert spec.x_test.shape == (2, 4) and spec.y_test.tolist() == [0, 2]
    raw = _seed_raw()
    raw["data"]["test_fraction"] = 0.5
    spec = spec_from_dict(raw)
    assert spec.num_samples + spec.num_test == 8 and spec.num_test == 5  # round(1.5) + round(1.5) + round(1.0)


def test_replace_validates_the_optimizer_options():
    spec = load_spec("iris")
    mini = spec.replace(batch_size=16, shuffle=True, momentum=0.9, nesterov=True, weight_decay=1e-3)
    assert (mini.batch_size, mini.shuffle, mini.momentum, mini.nesterov) == (16, True, 0.9, True)
    assert mini.replace(batch_size=None).batch_size is None
    for changes, message in [
        ({"nesterov": True}, r"^optimizer.nesterov: needs momentum > 0"),
        ({"batch_size": 0}, r"^optimizer.batch_size: must be >= 1"),
        ({"momentum": -1}, r"^optimizer.momentum: must be a finite number >= 0"),
        ({"shuffle": 1}, r"^optimizer.shuffle: expected true or false"),
        ({"colour": 1}, r"^colour: can't be replaced"),
    ]:
        with pytest.raises(SpecError, match=message):
            spec.replace(**changes)


def test_every_field_is_documented():
    """docs/specs.md names every field the schema knows."""
    from softmax_rosetta.spec import _SCHEMA

    docs = (SPEC_DIR.parent.parent / "docs" / "specs.md").read_text()

    def fields(schema, prefix=""):
        for key, value in schema.items():
            yield key
            if isinstance(value, dict):
                yield from fields(value, f"{prefix}{key}.")

    missing = [f for f in fields(_SCHEMA) if not any(s in docs for s in (f"`{f}`", f"[{f}]", f"[{f}.", f"[data.{f}]"))]
    assert not missing, f"not in docs/specs.md: {missing}"


def test_the_examples_in_docs_load():
    """Every TOML example in docs/specs.md is a valid spec (the big one made small here; a fragment, in the first)."""
    import re

    docs = (SPEC_DIR.parent.parent / "docs" / "specs.md").read_text()
    blocks = re.findall(r"```toml\n(.*?)```", docs, flags=re.S)
    assert len(blocks) >= 2
    first = tomllib.loads(blocks[0])
    for block in blocks:
        raw = tomllib.loads(block)
        if "name" not in raw:  # a fragment (one table, shown alone): valid as part of the first example
            raw = {**first, **raw, "tolerance": {**first.get("tolerance", {}), **raw.get("tolerance", {})}}
        if raw["data"].get("source") == "synthetic":
            raw["data"]["synthetic"]["samples"] = 2000
        spec = spec_from_dict(raw)
        assert spec.num_samples > 0


def test_sizes_are_checked_against_half_the_memory(monkeypatch):
    """The limit is half the machine's memory; the message says how much the array needs and the limit."""
    from softmax_rosetta import spec_tables

    monkeypatch.setattr(spec_tables, "memory_limit", lambda: 2**20)
    raw = _raw("synthetic")
    raw["data"]["synthetic"]["samples"] = 2**13  # 8192 x 16 x 8 bytes = 1 MiB: fits
    assert spec_from_dict(raw).num_samples + spec_from_dict(raw).num_test == 2**13
    raw["data"]["synthetic"]["samples"] = 2**13 + 1
    with pytest.raises(SpecError, match=r"would need 1.0 MiB, over the limit of 1.0 MiB \(half this machine's memory"):
        spec_from_dict(raw)
    with pytest.raises(SpecError, match=r"^optimizer.epochs: 131072 is too big"):
        load_spec("seed").replace(epochs=2**17)
    assert load_spec("seed").replace(epochs=2**17 - 1).epochs == 2**17 - 1


# --- data near the float64 limit: standardised without overflow, or refused ------------------


def _standardized_raw(x_train, y_train, x_test=None, y_test=None):
    raw = _seed_raw()
    raw["data"] = {"x_train": x_train, "y_train": y_train, "standardize": True}
    if x_test is not None:
        raw["data"].update(x_test=x_test, y_test=y_test)
    del raw["expected"]
    return raw


def test_standardize_survives_values_near_the_float64_limit():
    """A feature whose sum or standard deviation would overflow is still scaled to mean 0, std 1."""
    big = [[1e300, 1, 2, 3], [-1e300, 2, 3, 4], [1e300, 3, 1, 2], [-1e300, 1, 1, 1]]
    near_max = [[1.7e308, 1, 2, 3], [-1.7e308, 2, 3, 4], [1.0e308, 3, 1, 2], [1.7e308, 1, 1, 1]]
    for x in (big, near_max):
        spec = spec_from_dict(_standardized_raw(x, [2, 1, 2, 1]))
        assert np.isfinite(spec.x_train).all()
        assert np.allclose(spec.x_train.mean(axis=0), 0, atol=1e-15)
        assert np.allclose(spec.x_train.std(axis=0), 1, atol=1e-15)
        # the first feature is the sign of x, scaled: the same as the small numbers would give
        small = np.array(x)[:, 0] / 1e300
        assert np.allclose(spec.x_train[:, 0], (small - small.mean()) / small.std(), atol=1e-15)


def test_standardize_is_the_direct_formula_where_that_does_not_overflow():
    """Scaling by a power of two first changes no bit: the bundled digits spec is as it was."""
    spec = load_spec("digits")
    from softmax_rosetta.data import load_dataset, train_test_split

    x, y = load_dataset("digits")
    x_train, _, x_test, _ = train_test_split(x, y, 0.2, 0)
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    assert np.array_equal(spec.x_train, (x_train - mean) / std)
    assert np.array_equal(spec.x_test, (x_test - mean) / std)


def test_standardize_that_overflows_names_the_field_and_the_feature():
    x_train = [[1, 2, 1, 1], [2, 1, 3, 2], [1, 2, 1, 1.000001], [2, 1, 3, 2]]
    raw = _standardized_raw(x_train, [0, 1, 0, 1], x_test=[[1, 2, 1, 1], [1, 2, 1, 1e308]], y_test=[0, 1])
    with pytest.raises(SpecError) as info:
        spec_from_dict(raw)
    assert str(info.value) == (
        "data.standardize: feature 3 overflows float64 once standardised "
        "(test row 1 scaled with the training rows' mean and standard deviation)"
    )


# --- which file a spec name means, and files that can't be read ---------------------------------


def test_a_name_is_a_bundled_spec_whatever_the_working_folder_holds(tmp_path, monkeypatch):
    """A path ends in .toml or has a separator; a bare word is a bundled name, never a local file."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "iris").mkdir()
    (tmp_path / "seed").write_text("not a spec")
    assert load_spec("iris").name == "iris" and load_spec("seed").name == "seed"
    with pytest.raises(SpecError, match=r"^spec: 'iris/' is a folder, not a spec file$"):
        load_spec("iris/")
    with pytest.raises(SpecError, match=r"^spec: 'iris' is a folder, not a spec file$"):
        load_spec(Path("iris"))  # a pathlib.Path is always a path
    (tmp_path / "mine").mkdir()
    with pytest.raises(SpecError) as info:
        load_spec("mine")
    assert str(info.value) == (
        "spec: unknown spec 'mine'; bundled specs: digits, iris, seed, synthetic (or give a path to a .toml file)"
        "; ./mine is not read as a spec: a path ends in .toml or has a / in it"
    )
    (tmp_path / "myspec").write_text((SPEC_DIR / "seed.toml").read_text())
    spec = load_spec("./myspec")
    assert spec.path == "./myspec" and load_spec(spec.path).name == "seed"
    assert load_spec(Path("myspec")).path == os.path.join(".", "myspec")  # still a path when handed on


def test_a_file_that_is_not_utf8_is_one_error(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes((SPEC_DIR / "seed.toml").read_bytes().replace(b"The lesson", b"La le\xe7on"))
    with pytest.raises(SpecError, match=r"^spec: '.*latin1.toml' is not UTF-8 text \(byte 0xe7 at offset \d+\)$"):
        load_spec(path)


def test_an_unreadable_file_is_one_error(tmp_path, monkeypatch):
    path = tmp_path / "locked.toml"
    path.write_text((SPEC_DIR / "seed.toml").read_text())

    def refuse(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(SpecError, match=r"^spec: can't read '.*locked.toml': permission denied$"):
        load_spec(path)


def test_an_unreadable_file_for_real(tmp_path):
    path = tmp_path / "locked.toml"
    path.write_text((SPEC_DIR / "seed.toml").read_text())
    path.chmod(0)
    if os.access(path, os.R_OK):
        pytest.skip("this user (root?) reads a file with no read permission; the monkeypatched test covers it")
    with pytest.raises(SpecError, match=r"^spec: can't read '.*locked.toml': permission denied$"):
        load_spec(path)


@pytest.mark.parametrize("opening,closing", [("[", "]"), ("{a = ", "}")])
def test_toml_nested_thousands_deep_is_one_error(tmp_path, opening, closing):
    path = tmp_path / "deep.toml"
    path.write_text('name = "deep"\ndescription = ' + opening * 5000 + "1" + closing * 5000 + "\n")
    with pytest.raises(SpecError, match=r"^spec: '.*deep.toml' nests arrays or tables too deeply to read$"):
        load_spec(path)
