"""Saved runs that are wrong, or that could be lost: every field of a file checked (one line naming the
file and the field, exit status 2), a file per run identity, and strings from runs kept out of the
report's structure. The runs are real: ``train numpy --save-run`` and ``compare --save-runs``."""

# ruff: noqa: E501  (the tables: one case a line)

import importlib.util
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from softmax_rosetta.testing import require_backend
from softmax_rosetta.tools.cli import main
from softmax_rosetta.tools.report.saved_runs.format import SavedRunError, host_label, write_run
from softmax_rosetta.tools.report.saved_runs.identity import RunIdentity, file_name
from softmax_rosetta.tools.report.saved_runs.load import load_runs
from softmax_rosetta.tools.report.text import md


@pytest.fixture(scope="module")
def good(short_seed_spec, tmp_path_factory):
    """A float64 NumPy run of the 40-epoch seed spec, saved by ``train --save-run``: its JSON."""
    path = tmp_path_factory.mktemp("good") / "run.json"
    argv = ["train", "numpy", "--dtype", "float64", "--spec", str(short_seed_spec), "--quiet"]
    assert main([*argv, "--save-run", str(path), "--label", "lab"]) == 0
    return json.loads(path.read_text())


def _set(dotted, value):
    def change(data):
        *parents, last = dotted.split(".")
        for p in parents:
            data = data[p]
        data[last] = value

    return change


def _delete(dotted):
    def change(data):
        *parents, last = dotted.split(".")
        for p in parents:
            data = data[p]
        del data[last]

    return change


def _cost(i, value):
    def change(data):
        data["run"]["costs"][i] = value

    return change


def _both(*changes):
    def change(data):
        for c in changes:
            c(data)

    return change


# (what is wrong, the change, the message after "FILE: ")
BAD = [
    ("diverged_at a string", _set("run.diverged_at", "x"), "field 'run.diverged_at': 'x', expected null or an epoch from 0 to 40"),
    ("diverged_at past the end", _set("run.diverged_at", 41), "field 'run.diverged_at': 41, expected null or an epoch from 0 to 40"),
    ("diverged_at negative", _set("run.diverged_at", -1), "field 'run.diverged_at': -1, expected null or an epoch from 0 to 40"),
    ("diverged_at a bool", _set("run.diverged_at", True), "field 'run.diverged_at': True, expected null or an epoch from 0 to 40"),
    ("diverged_at a float", _set("run.diverged_at", 3.0), "field 'run.diverged_at': 3.0, expected null or an epoch from 0 to 40"),
    ("diverged_at, all costs", _set("run.diverged_at", 5), "field 'run.costs': 41 costs, expected 6 (diverged_at + 1)"),
    ("diverged_at, a finite last cost", lambda d: d["run"].update(diverged_at=2, costs=d["run"]["costs"][:3]),
     "field 'run.costs': diverged_at is 2, but cost 2 is not the first inf or nan"),
    ("diverged_at missing", _delete("run.diverged_at"), "missing field 'run.diverged_at'"),
    ("a nan cost, not diverged", _cost(3, "nan"), "field 'run.costs': cost 3 is nan, but diverged_at is null"),
    ("a cost as a string", _cost(3, "0.5"), "field 'run.costs': '0.5' is not a number (nor \"inf\", \"-inf\", \"nan\")"),
    ("a cost as a word", _cost(0, "x"), "field 'run.costs': 'x' is not a number (nor \"inf\", \"-inf\", \"nan\")"),
    ("a cost as a bool", _cost(1, False), "field 'run.costs': False is not a number (nor \"inf\", \"-inf\", \"nan\")"),
    ("a cost as null", _cost(1, None), "field 'run.costs': None is not a number (nor \"inf\", \"-inf\", \"nan\")"),
    ("a cost as a list", _cost(1, [1.0]), "field 'run.costs': not an array (rows of different lengths)"),
    ("a cost beyond float64", _cost(1, 10**400), "field 'run.costs': a number beyond the range of float64"),
    ("one cost too few", lambda d: d["run"]["costs"].pop(), "field 'run.costs': 40 costs, expected 41 (epochs + 1)"),
    ("costs not a list", _set("run.costs", "1,2"), "field 'run.costs': expected a list, got '1,2'"),
    ("epochs negative", _set("run.epochs", -1), "field 'run.epochs': -1, but its spec's epochs is 40"),
    ("epochs a string", _set("run.epochs", "40"), "field 'run.epochs': expected an integer, got '40'"),
    ("epochs not the spec's", _set("run.epochs", 39), "field 'run.epochs': 39, but its spec's epochs is 40"),
    ("lr not the spec's", _set("run.lr", 0.5), "field 'run.lr': 0.5, but its spec's lr is 0.1"),
    ("lr a bool", _set("run.lr", True), "field 'run.lr': expected an integer or a number, got True"),
    ("dtype unknown", _both(_set("run.dtype", "float16"), _set("dtype", "float16")),
     "field 'run.dtype': 'float16', expected one of float32, float64"),
    ("dtype top and run differ", _set("dtype", "float32"), "field 'dtype': 'float32', but run.dtype is 'float64'"),
    ("backend not a name", _both(_set("run.backend", "num py"), _set("backend", "num py")),
     "field 'run.backend': 'num py' is not a name (letters, digits, _.:+-)"),
    ("variant empty", _both(_set("run.variant", ""), _set("variant", "")), "field 'run.variant': empty"),
    ("device a number", _set("run.device", 0), "field 'run.device': expected a string, got 0"),
    ("workers 0", _set("run.workers", 0), "field 'run.workers': 0, expected an integer of 1 or more"),
    ("workers a float", _set("run.workers", 2.0), "field 'run.workers': 2.0, expected an integer of 1 or more"),
    ("accuracy above 1", _set("run.accuracy", 1.5), "field 'run.accuracy': 1.5, expected a fraction from 0 to 1"),
    ("accuracy a string", _set("run.accuracy", "0.9"), "field 'run.accuracy': '0.9', expected a fraction from 0 to 1"),
    ("seconds negative", _set("run.seconds", -1), "field 'run.seconds': -1, expected a time in seconds (0 or more)"),
    ("seconds a string", _set("run.seconds", "fast"), "field 'run.seconds': expected an integer or a number, got 'fast'"),
    ("weight of another shape", lambda d: d["run"]["weight"].pop(), "field 'run.weight': shape (2, 4), the spec's is (3, 4)"),
    ("weight ragged", lambda d: d["run"]["weight"][0].pop(), "field 'run.weight': not an array (rows of different lengths)"),
    ("bias missing", _delete("run.bias"), "missing field 'run.bias'"),
    ("forward output missing", _delete("forward.softmax"), "missing field 'forward.softmax'"),
    ("forward output unknown", _set("forward.loss:new", 1.0), "field 'forward.loss:new': not a field of a saved run (schema_version 1)"),
    ("forward loss a word", _set("forward.loss:nll", "low"), "field 'forward.loss:nll': 'low' is not a number (nor \"inf\", \"-inf\", \"nan\")"),
    ("an unknown field", _set("comment", "hi"), "field 'comment': not a field of a saved run (schema_version 1)"),
    ("an unknown run field", _set("run.note", "hi"), "field 'run.note': not a field of a saved run (schema_version 1)"),
    ("host with a newline", _set("host", "lab\n# **PASS**: forged"),
     "field 'host': control character '\\n' at position 3 in 'lab\\n# **PASS**: forged'"),
    ("host with a terminal escape", _set("host", "\x1b[31mred"),
     "field 'host': control character '\\x1b' at position 0 in '\\x1b[31mred'"),
    ("host with a carriage return", _set("host", "a\rb"), "field 'host': control character '\\r' at position 1 in 'a\\rb'"),
    ("host with a bidi override", _set("host", "a\u202eb"), "field 'host': unprintable character '\\u202e' at position 1 in 'a\\u202eb'"),
    ("host with a lone surrogate", _set("host", "a\ud800"), "field 'host': unprintable character '\\ud800' at position 1 in 'a\\ud800'"),
    ("host empty", _set("host", ""), "field 'host': empty"),
    ("host with spaces around", _set("host", " lab"), "field 'host': ' lab' must be 1 to 100 characters, no space at either end"),
    ("host too long", _set("host", "h" * 101), "field 'host': '" + "h" * 56 + "... must be 1 to 100 characters, no space at either end"),
    ("host a number", _set("host", 7), "field 'host': expected a string, got 7"),
    ("role unknown", _set("role", "boss"), "field 'role': 'boss', expected one of compared, reference"),
    ("created not a time", _set("created", "yesterday"), "field 'created': 'yesterday', expected an ISO 8601 time"),
    ("a version a number", _set("versions.numpy", 2.3), "field 'versions.numpy': expected a string, got 2.3"),
    ("a version with a bell", _set("versions.numpy", "2\x07"), "field 'versions.numpy': control character '\\x07' at position 1 in '2\\x07'"),
    ("a setting with an escape", _set("settings.x", "\x1b]0;title\x07"),
     "field 'settings.x': control character '\\x1b' at position 0 in '\\x1b]0;title\\x07'"),
    ("an environment string with a newline", _set("environment.machine.cpu", "cpu\nx"),
     "field 'environment.machine.cpu': control character '\\n' at position 3 in 'cpu\\nx'"),
    ("a key with a tab", _set("environment.process.a\tb", 1), "field 'environment.process': control character '\\t' at position 1 in 'a\\tb'"),
    ("settings not an object", _set("settings", []), "field 'settings': expected an object, got []"),
    ("spec hash malformed", _set("spec.hash", "sha256:abc"), "field 'spec.hash': 'sha256:abc', expected 'sha256:' and 64 hex digits"),
    ("spec name not its toml's", _set("spec.name", "other"), "field 'spec.name': 'other', but its spec.toml names 'seed-short'"),
    ("spec toml with a NUL", lambda d: d["spec"].update(toml=d["spec"]["toml"] + "\x00"),
     "field 'spec.toml': control character '\\x00' at position {end} in {toml}"),
]  # fmt: skip


def _expected(message, data):
    toml = data["spec"]["toml"]
    shown = repr(toml)
    return message.format(end=len(toml) - 1, toml=shown if len(shown) <= 60 else shown[:57] + "...")


@pytest.mark.parametrize("what, change, message", BAD, ids=[b[0] for b in BAD])
def test_a_bad_field_is_refused_in_one_line_naming_the_file_and_the_field(
    what, change, message, good, tmp_path, capsys
):
    data = json.loads(json.dumps(good))
    change(data)
    path = tmp_path / "run.json"
    path.write_text(json.dumps(data))
    code = main(["compare", "--runs", str(path), "--out", str(tmp_path / "r"), "--no-plots"])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err == f"softmax-rosetta: error: {path}: {_expected(message, data)}\n"
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "text, message",
    [
        (
            '{"schema": "softmax-rosetta/saved-run", "schema_version": true}',
            "schema_version True; this softmax-rosetta reads 1",
        ),
        ("[" * 100000 + "]" * 100000, "not a saved run (JSON nested too deeply)"),
        (
            '{"schema": "softmax-rosetta/saved-run", "schema_version": 1, "run": {"costs": [NaN]}}',
            "missing field 'host'",
        ),
        ("[1, 2]", "not a saved run (it has no schema field; expected 'softmax-rosetta/saved-run')"),
    ],
    ids=["schema_version a bool", "nested too deeply", "no host", "not an object"],
)
def test_a_file_that_is_no_saved_run_is_refused_in_one_line(text, message, tmp_path, capsys):
    path = tmp_path / "run.json"
    path.write_text(text)
    assert main(["compare", "--runs", str(path), "--out", str(tmp_path / "r")]) == 2
    assert capsys.readouterr().err == f"softmax-rosetta: error: {path}: {message}\n"


def test_a_bare_nan_cost_is_refused(good, tmp_path, capsys):
    data = json.loads(json.dumps(good))
    data["run"]["costs"][2] = float("nan")
    path = tmp_path / "run.json"
    path.write_text(json.dumps(data))  # json writes NaN, which the format never does
    assert main(["compare", "--runs", str(path), "--out", str(tmp_path / "r")]) == 2
    message = 'field \'run.costs\': nan is not a number (nor "inf", "-inf", "nan")'
    assert capsys.readouterr().err == f"softmax-rosetta: error: {path}: {message}\n"


def test_a_file_named_with_terminal_escapes_is_named_escaped(good, tmp_path, capsys):
    data = json.loads(json.dumps(good))
    data["run"]["diverged_at"] = "x"
    path = tmp_path / "\x1b[31mred\n.json"
    path.write_text(json.dumps(data))
    assert main(["compare", "--runs", str(tmp_path), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and err.count("\n") == 1
    assert err == f"softmax-rosetta: error: {tmp_path}/\\x1b[31mred\\n.json: field 'run.diverged_at': 'x', " \
        "expected null or an epoch from 0 to 40\n"  # fmt: skip


@pytest.mark.parametrize(
    "label",
    ["", " ", "a\nb", "\x1b[31mred", "a\tb", "a\u2028b", "x" * 101],
    ids=["empty", "blank", "newline", "escape", "tab", "line separator", "too long"],
)
def test_a_label_that_cant_name_runs_is_refused_before_training(label, tmp_path, capsys):
    code = main(["train", "numpy", "--save-run", str(tmp_path / "r.json"), "--label", label])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "") and err.count("\n") == 1 and "\x1b" not in err, err
    assert err.startswith(f"softmax-rosetta: error: --label: {label!r}"[:40]), err
    assert err.endswith(" must be 1 to 100 characters without control characters\n"), err
    assert not (tmp_path / "r.json").exists()


# --- a file per run: labels a file name can't hold, and data-parallel runs ---------------------------

LABEL_SETS = [
    ["a/b", "a b", "a_b", "a:b", "a\\b"],
    ["..", ".", "...", "-", "_"],
    ["日本", "中国", "Ελλάδα", "😀", "é", "e", "E"],
    ["x" * 99 + "1", "x" * 99 + "2", "x" * 100],
    ["lab", "lab ", " lab"],  # a label is stripped: the three are one machine
]


@pytest.mark.parametrize("labels", LABEL_SETS, ids=["punctuation", "dots", "unicode", "long", "spaces"])
def test_labels_a_file_name_cant_hold_still_get_a_file_each(labels, good, tmp_path):
    folder = tmp_path / "runs"
    folder.mkdir()
    hosts = list(dict.fromkeys(host_label(label) for label in labels))
    for host in hosts:
        written = write_run(folder, {**good, "host": host})
        assert Path(written).parent == folder and not Path(written).name.startswith(".")
    files = sorted(folder.iterdir())
    assert len(files) == len(hosts)
    assert all(len(f.name) < 120 and re.fullmatch(r"[A-Za-z0-9._-]+[.]json", f.name) for f in files), files
    assert sorted(r.host for r in load_runs([str(folder)])) == sorted(hosts)


def test_saving_the_same_run_again_replaces_its_own_file(good, tmp_path):
    first = write_run(tmp_path, good)
    again = write_run(tmp_path, {**good, "created": "2031-01-01T00:00:00+00:00", "role": "reference"})
    assert first == again and [p.name for p in tmp_path.iterdir()] == [Path(first).name]
    assert json.loads(Path(first).read_text())["created"].startswith("2031")


def test_a_foreign_file_in_a_run_s_place_is_left_alone(good, tmp_path, capsys):
    name = Path(write_run(tmp_path, good)).name
    other = {**good, "host": "someone-else"}
    target = tmp_path / file_name(RunIdentity.of(other))  # where the other run's file goes
    target.write_text("my notes\n")

    with pytest.raises(SavedRunError, match="exists and is not a saved run of numpy cpu float64 on someone-else"):
        write_run(tmp_path, other)
    assert target.read_text() == "my notes\n" and (tmp_path / name).exists()


@pytest.mark.slow
def test_labels_differing_in_punctuation_are_three_machines_for_real(short_seed_spec, tmp_path, capsys):
    runs = tmp_path / "runs"
    for label in ("a/b", "a b", "a_b"):
        argv = ["compare", "--spec", str(short_seed_spec), "--backends", "numpy", "--dtypes", "float64"]
        assert main([*argv, "--save-runs", str(runs), "--label", label, "--out", str(tmp_path / label[1])]) == 0
    assert len(list(runs.iterdir())) == 3
    capsys.readouterr()
    assert main(["compare", "--runs", str(runs), "--out", str(tmp_path / "r"), "--no-plots"]) == 0
    assert "3 saved runs of spec seed-short from 3 machines: a/b, a b, a_b" in capsys.readouterr().out


@pytest.mark.slow
def test_a_data_parallel_run_keeps_the_one_process_run(short_seed_spec, tmp_path, capsys):
    require_backend("torch")
    runs = tmp_path / "runs"
    argv = ["compare", "--spec", str(short_seed_spec), "--backends", "torch", "--dtypes", "float32", "--no-plots"]
    assert main([*argv, "--save-runs", str(runs), "--label", "m", "--out", str(tmp_path / "one")]) == 0
    one = sorted(p.name for p in runs.iterdir())
    assert (
        main([*argv, "--workers", "2", "--save-runs", str(runs), "--label", "m", "--out", str(tmp_path / "two")]) == 0
    )
    both = sorted(p.name for p in runs.iterdir())
    assert set(one) < set(both) and len(both) == len(one) + 1, (one, both)
    assert any(name.startswith("m-torch-lesson-x2-float32-cpu-") for name in both)
    capsys.readouterr()
    assert main(["compare", "--runs", str(runs), "--out", str(tmp_path / "r"), "--no-plots"]) == 0
    labels = {r["label"] for r in json.loads((tmp_path / "r" / "report.json").read_text())["runs"]}
    assert {"torch cpu on m", "torch:x2 cpu on m"} <= labels, labels


# --- strings from runs in the report --------------------------------------------------------------

HOSTILE = "a|b <script>alert(1)</script> *em* _u_ [l](http://x) `c` #h &amp; $x^$ \\"


def _report(tmp_path, good, host, name):
    folder = tmp_path / f"runs-{name}"
    folder.mkdir()
    write_run(folder, {**good, "host": host})
    write_run(folder, {**good, "host": host + " 2"})
    assert main(["compare", "--runs", str(folder), "--out", str(tmp_path / name)]) == 0
    return tmp_path / name


def _cells(line):
    """A Markdown table row's cells, split at the pipes that are not escaped."""
    return re.split(r"(?<!\\)\|", line)


def test_strings_from_runs_keep_the_report_s_structure(good, tmp_path, capsys):
    plain = _report(tmp_path, good, "plain", "plain")
    hostile = _report(tmp_path, good, HOSTILE, "hostile")
    out = capsys.readouterr().out
    assert "\x1b" not in out
    md_plain = (plain / "report.md").read_text().splitlines()
    md_hostile = (hostile / "report.md").read_text().splitlines()
    assert len(md_plain) == len(md_hostile)
    headings = [line for line in md_plain[1:] if line.startswith("#")]  # the first line: the verdict
    assert [line for line in md_hostile[1:] if line.startswith("#")] == headings
    assert md_hostile[0] == md_plain[0].replace("plain", md(HOSTILE))  # the verdict: one line, the label escaped
    for a, b in zip(md_plain, md_hostile, strict=True):
        if a.startswith("|"):
            assert len(_cells(a)) == len(_cells(b)), b  # no cell split by a "|" of the label
    text = "\n".join(md_hostile)
    assert "<script>" not in text and "\\<script\\>" in text and md(HOSTILE) in text
    # junit.xml parses and names the case with the label as it is
    suites = ET.parse(hostile / "junit.xml").getroot()
    names = {case.get("name") for case in suites.iter("testcase")}
    assert f"run numpy cpu on {HOSTILE}" in names
    assert json.loads((hostile / "report.json").read_text())["hosts"].keys() == {HOSTILE, HOSTILE + " 2"}
    if importlib.util.find_spec("matplotlib") is not None:  # the NumPy-only venv has no plots, and says so
        assert {"loss.png", "deviation.png"} <= {p.name for p in hostile.iterdir()}  # "$x^$" drawn as text
    else:
        assert "Plots skipped: matplotlib is not available" in text


@pytest.mark.parametrize(
    "text, shown",
    [
        ("a\nb", "a\\\\nb"),
        ("a|b", "a\\|b"),
        ("<script>", "\\<script\\>"),
        ("\x1b[31mred", "\\\\x1b\\[31mred"),
        ("OMP_NUM_THREADS", "OMP_NUM_THREADS"),
        ("_x_", "\\_x\\_"),
        ("&lt;", "&amp;lt;"),
        ("a & b", "a & b"),
    ],
)
def test_markdown_shows_text_as_it_is_on_one_line(text, shown):
    assert md(text) == shown
