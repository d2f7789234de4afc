"""``tolerances SPEC --write``: the derived envelopes stored in the spec as [tolerance.derived.DTYPE], the file's
comments, layout, line endings, mode and links kept, read back and validated by the spec loader."""

import os

import numpy as np
import pytest

from softmax_rosetta import load_spec
from softmax_rosetta.spec import SPEC_DIR
from softmax_rosetta.tolerances import derive, fingerprint
from softmax_rosetta.tools.cli import main


def _copy(tmp_path, name, text=None):
    path = tmp_path / f"{name}-copy.toml"
    path.write_bytes((SPEC_DIR / f"{name}.toml").read_bytes() if text is None else text.encode())
    return path


@pytest.mark.parametrize("name", ["seed", pytest.param("iris", marks=pytest.mark.slow)])
def test_write_stores_what_derive_gives_and_keeps_the_file(name, tmp_path, capsys):
    path = _copy(tmp_path, name)
    before = path.read_text().split("\n[tolerance.derived.")[0]  # the bundled spec's own tables, then replaced
    assert main(["tolerances", str(path), "--write", "--samples", "8"]) == 0
    assert "written into" in capsys.readouterr().err
    after = path.read_text()
    assert after.startswith(before)  # every line, comment and blank line kept; the tables are (re)written at the end
    spec = load_spec(path)
    for dtype in ("float32", "float64"):
        env = derive(spec, dtype, samples=8)
        stored = spec.derived_tolerances[dtype]
        assert stored.forward == env.forward and stored.params == env.params
        assert list(zip(stored.cost_epochs, stored.costs, strict=True)) == list(env.checkpoints)
        assert np.array_equal(stored.cost_per_epoch(), env.costs)
        assert stored.samples == 8 and stored.seed == 0 and stored.safety == env.safety
        assert stored.fingerprint == env.fingerprint == fingerprint(spec, dtype)
    assert spec.tolerances == load_spec(name).tolerances  # the hand-set ones are untouched


def test_write_again_replaces_one_dtype_in_place(tmp_path):
    path = _copy(tmp_path, "seed")
    assert main(["tolerances", str(path), "--write", "--samples", "4"]) == 0
    first = load_spec(path).derived_tolerances
    assert main(["tolerances", str(path), "--write", "--samples", "6", "--dtype", "float32"]) == 0
    text = path.read_text()
    assert text.count("[tolerance.derived.float32]") == 1 and text.count("[tolerance.derived.float64]") == 1
    again = load_spec(path).derived_tolerances
    assert again["float32"].samples == 6 and again["float64"] == first["float64"]


def test_write_keeps_crlf_mode_and_links(tmp_path):
    text = (SPEC_DIR / "seed.toml").read_text().replace("\n", "\r\n")
    target = _copy(tmp_path, "seed", text)
    os.chmod(target, 0o640)
    link = tmp_path / "link.toml"
    link.symlink_to(target)
    assert main(["tolerances", str(link), "--write", "--samples", "4", "--dtype", "float64"]) == 0
    assert link.is_symlink() and os.stat(target).st_mode & 0o777 == 0o640
    raw = target.read_bytes()
    kept = text.split("\r\n[tolerance.derived.float64]")[0]  # up to the table written again
    assert b"\n" not in raw.replace(b"\r\n", b"") and raw.startswith(kept.encode())
    assert "float64" in load_spec(target).derived_tolerances


def test_a_replaced_spec_drops_its_derived_tolerances(tmp_path):
    path = _copy(tmp_path, "seed")
    assert main(["tolerances", str(path), "--write", "--samples", "4"]) == 0
    spec = load_spec(path)
    assert spec.derived_tolerances and spec.replace(lr=0.2).derived_tolerances == {}
