"""The agreement report: ``softmax-rosetta compare`` writes report.md, report.json, junit.xml and plots.

The runs here use a short copy of the seed spec (40 epochs) so that they are quick; the
command and the code paths are the real ones: every backend in its own process.
"""

import importlib.util
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from softmax_rosetta import load_spec
from softmax_rosetta.compare import Check, check_accuracy, scale_tolerances, suspects
from softmax_rosetta.registry import BACKENDS, available_backends, backend_class
from softmax_rosetta.tools import cli, files
from softmax_rosetta.tools.report import command, runs

ROOT = Path(__file__).resolve().parent.parent
FILES = ("report.md", "report.json", "junit.xml", "loss.png", "deviation.png")
INSTALLED = available_backends()
HAVE_PLOT = importlib.util.find_spec("matplotlib") is not None
WRITTEN = FILES if HAVE_PLOT else FILES[:3]  # without matplotlib, the plots are skipped (and said so)


@pytest.fixture(scope="module")
def small_spec(short_seed_spec):
    """The seed spec cut to 40 epochs (conftest's short_seed_spec)."""
    return short_seed_spec


def compare(out, *args, env=None, python_prelude=None):
    """Run ``softmax-rosetta compare`` in a fresh process; (exit status, stdout, stderr)."""
    full_env = {k: v for k, v in os.environ.items() if k != "GITHUB_STEP_SUMMARY"}
    full_env.update(env or {})
    argv = ["compare", "--out", str(out), *map(str, args)]
    if python_prelude:
        code = f"{python_prelude}\nimport sys\nfrom softmax_rosetta.tools.cli import main\nsys.exit(main({argv!r}))"
        cmd = [sys.executable, "-c", code]
    else:
        cmd = [sys.executable, "-m", "softmax_rosetta.tools.cli", *argv]
    proc = subprocess.run(cmd, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=600)
    return proc.returncode, proc.stdout, proc.stderr


def load(out):
    return json.loads((out / "report.json").read_text(), parse_constant=lambda c: pytest.fail(f"JSON has {c}"))


@pytest.fixture(scope="module")
def passing(small_spec, tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    return out, *compare(out, "--spec", small_spec)


@pytest.mark.slow
def test_compare_writes_the_five_files_and_exits_0(passing):
    out, code, stdout, stderr = passing
    assert code == 0, stdout + stderr
    for name in WRITTEN:
        assert (out / name).stat().st_size > 0, name
    assert not [p.name for p in out.iterdir() if p.name not in WRITTEN], "temporary files left behind"
    first = (out / "report.md").read_text().splitlines()[0]
    assert first.startswith("# **PASS**") and "seed-short" in first
    assert stdout.strip().splitlines()[-1].startswith("PASS: ")


@pytest.mark.slow
def test_every_installed_backend_ran_in_its_own_process_with_a_progress_line(passing):
    out, code, stdout, _ = passing
    data = load(out)
    parent = data["environment"]["parent"]["process"]["pid"]
    pids = {b["name"]: b["environment"]["process"]["pid"] for b in data["backends"] if b["status"] == "ran"}
    assert sorted(pids) == sorted(INSTALLED)
    assert len(set(pids.values()) | {parent}) == len(pids) + 1
    for name in INSTALLED:
        assert re.search(rf"^\[\d/\d\] {name}: .* done in", stdout, re.M), stdout
    for name in set(BACKENDS) - set(INSTALLED):
        assert any(b["name"] == name and b["status"] == "skipped" for b in data["backends"])


@pytest.mark.slow
def test_report_json_holds_every_check_run_and_the_reference(passing):
    out, *_ = passing
    data = load(out)
    assert data["schema"] == "softmax-rosetta/agreement-report" and data["schema_version"] == 2
    assert data["verdict"] == "pass" and data["exit_status"] == 0 and data["failed_checks"] == []
    assert data["summary"]["checks"] == len(data["checks"]) == data["summary"]["passed"]
    groups = {c["group"] for c in data["checks"]}
    assert "trajectory" in groups
    if len(INSTALLED) > 1:  # one backend alone has nothing to compare but the expected costs
        assert groups == {"softmax", "loss", "trajectory", "params", "accuracy"}
    for c in data["checks"]:
        assert c["passed"] and c["max_abs"] <= c["tolerance"]
        assert c["headroom"] == pytest.approx(c["max_abs"] / c["tolerance"])
    labels = {(r["label"], r["dtype"]) for r in data["runs"]}
    # every general variant runs: jax "fused", ...
    variants = {n: backend_class(n).general_variants() for n in INSTALLED}
    assert "fused" in variants.get("jax", ["fused"])
    expected = {
        (n if v == "lesson" else f"{n}:{v}", d)
        for n in INSTALLED
        for v in variants[n]
        for d in ("float32", "float64")
        if d == "float32" or "cpu" not in backend_class(n).no_float64  # compare leaves a declared one out
    }
    assert labels == expected
    assert data["reference"]["backend"] == "numpy" and data["reference"]["dtype"] == "float64"
    assert len(data["reference"]["costs"]) == 41
    assert {(d["run"], d["dtype"]) for d in data["deviations"]} == expected
    numpy64 = next(d for d in data["deviations"] if (d["run"], d["dtype"]) == ("numpy", "float64"))
    assert numpy64["max_abs"] == 0
    if HAVE_PLOT:
        assert data["plots"] == {"files": ["loss.png", "deviation.png"], "skipped": None}
    else:
        assert data["plots"]["files"] == [] and "matplotlib" in data["plots"]["skipped"]


@pytest.mark.slow
def test_report_md_reads_top_down(passing):
    out, *_ = passing
    md = (out / "report.md").read_text()
    headings = [line for line in md.splitlines() if line.startswith("## ")]
    assert headings[0].startswith("## Summary")
    order = [
        "## Summary",
        "## Backends",
        "## Deviation",
        "## Environment",
        "## Checks in detail",
        "## Tolerances",
        "## Plots",
    ]
    positions = [md.index(h) for h in order]
    assert positions == sorted(positions)
    for word in ["Python", "numpy", "Threads", "headroom", "OMP_NUM_THREADS", "XLA_FLAGS"]:
        assert word in md, word
    environment = md[md.index("## Environment") : md.index("## Checks in detail")]
    for b in load(out)["backends"]:  # each backend's versions and settings, as its process recorded them
        for package, version in b["versions"].items():
            assert f"{package} {version}" in environment, package
        for key in b["settings"]:
            assert f"| {key} " in environment, key
    assert ("![loss](loss.png)" in md) == HAVE_PLOT and "Failing checks" not in md


@pytest.mark.slow
def test_junit_has_one_case_per_check_and_backend(passing):
    out, *_ = passing
    data = load(out)
    root = ET.parse(out / "junit.xml").getroot()
    cases = root.findall(".//testcase")
    assert len(cases) == len(data["checks"]) + len(BACKENDS)
    assert root.get("failures") == "0" and root.get("errors") == "0"
    assert root.get("skipped") == str(len(BACKENDS) - len(INSTALLED))


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_PLOT, reason="matplotlib is not installed (pip install 'softmax-rosetta[plot]')")
def test_plots_are_pngs(passing):
    out, *_ = passing
    for name in ("loss.png", "deviation.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
@pytest.mark.skipif(len(INSTALLED) < 2, reason="comparing backends needs two (one alone can match the lesson exactly)")
def test_tolerance_scale_1e_9_fails_and_names_the_failing_checks_first(small_spec, tmp_path):
    backends = ",".join(INSTALLED[:2])
    code, stdout, stderr = compare(
        tmp_path, "--spec", small_spec, "--backends", backends, "--dtypes", "float32", "--tolerance-scale", "1e-9"
    )
    assert code == 1, stdout + stderr
    lines = stdout.splitlines()
    first_result = next(i for i, line in enumerate(lines) if line.startswith(("Failing checks", "| check")))
    assert lines[first_result].startswith("Failing checks")
    assert lines[-1].startswith("FAIL") and "checks fail" in lines[-1] and "costs (float32)" in lines[-1]
    md = (tmp_path / "report.md").read_text()
    assert md.startswith("# **FAIL**") and md.index("## Failing checks") < md.index("## Summary")
    data = load(tmp_path)
    assert data["verdict"] == "fail" and data["exit_status"] == 1 and data["tolerance_scale"] == 1e-9
    assert data["failed_checks"] and all(not c["passed"] for c in data["failed_checks"])
    scaled = load_spec(small_spec).tolerance("float32").cost * 1e-9
    assert data["tolerances"]["float32"]["cost"] == pytest.approx(scaled)
    root = ET.parse(tmp_path / "junit.xml").getroot()
    assert int(root.get("failures")) == len(data["failed_checks"])


def run_compare(*argv):
    """``softmax-rosetta compare`` in this process (each backend still in its own); its exit status."""
    return cli.main(["compare", *map(str, argv)])


@pytest.mark.slow
@pytest.mark.skipif(len(INSTALLED) < 3, reason="naming the one backend off needs three backends")
def test_a_perturbed_backend_fails_on_exactly_that_backend(small_spec, tmp_path, monkeypatch, capsys):
    """torch's process runs for real; the numbers it returned are shifted by 1e-3 before the report
    compares them (its accuracy is left as it was computed)."""
    real = runs.run_backend

    def shifted(backend, *args, **kwargs):
        run = real(backend, *args, **kwargs)
        if backend == "torch":
            assert run.ok, run.error
            for outputs in run.forward.values():
                for key, values in outputs.items():
                    outputs[key] = values + values.dtype.type(1e-3)
            for r in run.runs:
                r.costs, r.weight, r.bias = (a + a.dtype.type(1e-3) for a in (r.costs, r.weight, r.bias))
        return run

    monkeypatch.setattr(runs, "run_backend", shifted)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    assert run_compare("--spec", small_spec, "--dtypes", "float64", "--out", tmp_path) == 1, capsys.readouterr()
    data = load(tmp_path)
    assert data["summary"]["suspects"] == ["torch"]

    def torch_in(c):  # "torch:fast" is a variant of the torch backend
        return "torch" in (c["a"].split(":")[0], c["b"].split(":")[0])

    failed = [c for c in data["checks"] if not c["passed"]]
    assert failed
    assert all(torch_in(c) for c in failed)
    assert all(c["passed"] for c in data["checks"] if not torch_in(c))
    # every comparison of torch with another backend fails; accuracy was computed before the shift
    others = [
        c
        for c in data["checks"]
        if torch_in(c) and c["check"] != "accuracy" and {c["a"].split(":")[0], c["b"].split(":")[0]} != {"torch"}
    ]
    assert others and all(not c["passed"] for c in others)
    md = (tmp_path / "report.md").read_text()
    assert md.startswith("# **FAIL** (pointing at torch)")
    for case in ET.parse(tmp_path / "junit.xml").getroot().iter("testcase"):
        if case.find("failure") is not None:
            assert "torch" in case.get("name")
    deviation = {(d["run"], d["dtype"]): d["max_abs"] for d in data["deviations"]}
    assert deviation[("torch", "float64")] == pytest.approx(1e-3)
    assert deviation[("jax", "float64")] < 1e-12
    assert capsys.readouterr().out.splitlines()[-1].startswith("FAIL (pointing at torch)")


# What a backend's process runs instead of report.runs.backend_outputs: it raises, or it dies.
CRASHES = {
    "raises": "def backend_outputs(**kwargs):\n    raise RuntimeError('made to fail on purpose')\n",
    "dies": "import os\n\ndef backend_outputs(**kwargs):\n    print('about to exit', flush=True)\n    os._exit(3)\n",
}


@pytest.mark.parametrize(
    "how, error",
    [("raises", "RuntimeError: made to fail on purpose"), ("dies", "its process exited with status 3: about to exit")],
)
def test_a_backend_that_crashes_is_a_failure_never_a_pass(how, error, small_spec, tmp_path, monkeypatch, capsys):
    (tmp_path / "crashing_backend.py").write_text(CRASHES[how])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])))
    monkeypatch.setattr(runs, "FUNCTION", "crashing_backend:backend_outputs")
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    out = tmp_path / "out"
    assert run_compare("--spec", small_spec, "--backends", "numpy", "--out", out) == 1
    stdout = capsys.readouterr().out
    assert "FAILED in" in stdout and error in stdout
    data = load(out)
    assert data["verdict"] == "fail" and data["summary"]["backends_failed"] == ["numpy"]
    assert data["summary"]["errors"] == [f"numpy failed to run: {error}"]
    assert data["checks"] == [] and data["reference"] == {"error": f"the NumPy reference run failed: {error}"}
    assert (out / "report.md").read_text().startswith("# **FAIL** (pointing at numpy): numpy failed to run")
    root = ET.parse(out / "junit.xml").getroot()
    assert int(root.get("errors")) >= 1


def test_without_matplotlib_the_report_says_the_plots_were_skipped(small_spec, tmp_path):
    summary = tmp_path / "step-summary.md"
    summary.write_text("earlier step\n")
    out = tmp_path / "out"
    code, stdout, stderr = compare(
        out,
        "--spec",
        small_spec,
        "--backends",
        "numpy",
        env={"GITHUB_STEP_SUMMARY": str(summary)},
        python_prelude="import sys; sys.modules['matplotlib'] = None",
    )
    assert code == 0, stdout + stderr
    assert not (out / "loss.png").exists() and not (out / "deviation.png").exists()
    md = (out / "report.md").read_text()
    assert "Plots skipped: matplotlib is not available" in md and "softmax-rosetta[plot]" in md
    assert "plots skipped" in stdout
    assert load(out)["plots"]["files"] == []
    # $GITHUB_STEP_SUMMARY: appended to, not replaced
    text = summary.read_text()
    assert text.startswith("earlier step\n# **PASS**")


def test_skipped_backends_are_listed_with_their_reason_and_not_counted(small_spec, tmp_path, monkeypatch, capsys):
    """Pretend torch, jax and mlx are not installed; the default run skips them and says why."""
    real = command.missing_packages
    monkeypatch.setattr(command, "missing_packages", lambda name: ["fakepkg"] if name != "numpy" else real(name))
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    assert cli.main(["compare", "--spec", str(small_spec), "--out", str(tmp_path), "--no-plots"]) == 0
    stdout = capsys.readouterr().out
    assert "[ skip ] torch: not installed: needs fakepkg" in stdout
    data = load(tmp_path)
    assert data["summary"]["backends_skipped"] == ["torch", "jax", "mlx"] and data["summary"]["backends_ran"] == [
        "numpy"
    ]
    first = (tmp_path / "report.md").read_text().splitlines()[0]
    assert "skipped (not counted as passing): torch (not installed" in first
    assert ET.parse(tmp_path / "junit.xml").getroot().get("skipped") == "3"
    # asked for by name, a missing backend is a usage error
    assert cli.main(["compare", "--spec", str(small_spec), "--out", str(tmp_path), "--backends", "numpy,torch"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "torch: not installed" in err


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--backends", "numpy,nope"], "unknown backend 'nope'"),
        (["--dtypes", "float16"], "unknown dtype 'float16'"),
        (["--device", "tpu"], "unknown device 'tpu'"),
        (["--tolerance-scale", "0"], "must be a finite number > 0"),
        (["--tolerance-scale", "nan"], "must be a finite number > 0"),
        (["--spec", "no-such-spec"], "unknown spec"),
        (["--tolerance-scale", "1e-320"], "--tolerance-scale: 1e-320 times the float32 expected_cost tolerance"),
        (["--tolerance-scale", "1e-320"], "underflows to 0; use at least 2.23e-302"),
        (["--tolerance-scale", "1e-300"], "float64 cost tolerance (1e-13) is 1e-313, a subnormal float"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(argv, words, tmp_path, capsys):
    try:
        code = cli.main(["compare", "--out", str(tmp_path / "out"), *argv])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2
    assert words in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "out" / "report.md").exists()


def _writable(folder):
    try:
        (folder / "probe").touch()
    except OSError:
        return False
    (folder / "probe").unlink()
    return True


@pytest.fixture
def read_only(tmp_path):
    """A folder this process can't write into: mode 555, or (root writes anyway) immutable (chattr +i)."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    immutable = False
    if _writable(folder):
        try:
            immutable = subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
        except FileNotFoundError:
            pass
        if not immutable or _writable(folder):
            pytest.skip("can't make a folder read-only for this user (root, and no chattr +i here)")
    yield folder
    if immutable:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    folder.chmod(0o755)


@pytest.mark.parametrize(
    "case, message",
    [
        ("a file", "--out: '{file}' exists and is not a folder"),
        ("under a file", "--out: can't create the folder '{file}/sub': '{file}' is a file, not a folder"),
        ("empty", "--out: empty path"),
        ("a dangling symlink", "--out: '{link}' is a symbolic link to '{tmp}/nowhere/out', which does not exist"),
        ("read-only", "--out: can't write into the folder '{ro}': "),
        ("in a read-only folder", "--out: can't create the folder '{ro}/sub': "),
    ],
)
def test_an_out_that_cant_be_written_is_one_line_before_anything_runs(case, message, tmp_path, capsys, request):
    file, link = tmp_path / "file", tmp_path / "link"
    file.write_text("x")
    link.symlink_to(tmp_path / "nowhere" / "out")
    ro = request.getfixturevalue("read_only") if "read-only" in case else None
    out = {
        "a file": file,
        "under a file": file / "sub",
        "empty": "",
        "a dangling symlink": link,
        "read-only": ro,
        "in a read-only folder": f"{ro}/sub",
    }[case]
    assert cli.main(["compare", "--backends", "numpy", "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing ran
    assert captured.err.startswith("softmax-rosetta: error: ") and captured.err.count("\n") == 1, captured.err
    assert message.format(file=file, link=link, tmp=tmp_path, ro=ro) in captured.err
    assert not (tmp_path / "nowhere").exists() and file.read_text() == "x"


@pytest.mark.parametrize(
    "where, message",
    [
        ("missing/summary.md", "can't write '{tmp}/missing/summary.md': the folder '{tmp}/missing' does not exist"),
        ("", "'{tmp}/' is a folder, not a file"),
    ],
)
def test_an_unwritable_step_summary_is_one_line_before_anything_runs(where, message, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", f"{tmp_path}/{where}")
    assert cli.main(["compare", "--backends", "numpy", "--out", str(tmp_path / "out")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert f"softmax-rosetta: error: $GITHUB_STEP_SUMMARY: {message.format(tmp=tmp_path)}" in captured.err
    assert not (tmp_path / "out").exists()


def test_an_interrupted_run_leaves_no_report_that_could_read_as_a_pass(tmp_path, monkeypatch, capsys):
    (tmp_path / "report.md").write_text("# **PASS**: an old run\n")
    (tmp_path / "junit.xml").write_text("<testsuites/>")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runs, "run_backend", interrupted)
    assert cli.main(["compare", "--backends", "numpy", "--out", str(tmp_path)]) == 130
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    target = tmp_path / "report.md"
    files.atomic_write(target, "old\n")
    assert target.read_text() == "old\n" and oct(target.stat().st_mode & 0o777) != oct(0o600)

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", broken_replace)
    with pytest.raises(OSError):
        files.atomic_write(target, "new\n")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]


# --- compare.py's pieces the report relies on ----------------------------------------------


def _check(a, b, max_abs, check="costs", dtype="float32", tol=1.0):
    return Check(check, dtype, a, b, max_abs, 0.0, tol)


def test_suspects_name_the_backend_in_every_failing_comparison():
    checks = [
        _check("numpy", "torch", 5),
        _check("numpy", "jax", 0),
        _check("torch", "jax", 5),
        _check("torch", "jax:fused", 5),
        _check("jax", "jax:fused", 0),
    ]
    assert suspects(checks) == ["torch"]
    # two backends: nothing says which one is right
    assert suspects([_check("numpy", "torch", 5)]) == ["numpy", "torch"]
    # against the expected costs: that run alone; jax:fused is the jax backend
    assert suspects([_check("jax:fused", "expected", 5, check="expected")]) == ["jax"]
    assert suspects([_check("numpy", "torch", 0)]) == []


def test_scale_tolerances_multiplies_every_tolerance(seed_spec):
    scaled = scale_tolerances(seed_spec, 1e-3)
    for dtype, t in seed_spec.tolerances.items():
        s = scaled.tolerance(dtype)
        for field in ("expected_cost", "cost", "param", "output"):
            assert getattr(s, field) == pytest.approx(getattr(t, field) * 1e-3)
    assert scale_tolerances(seed_spec, 1.0) is seed_spec
    with pytest.raises(ValueError):
        scale_tolerances(seed_spec, 0.0)


def test_accuracy_must_be_equal(seed_spec):
    from dataclasses import replace

    import numpy as np

    from softmax_rosetta.backend import TrainResult

    r = TrainResult(
        "numpy",
        "lesson",
        "float32",
        "cpu",
        "seed",
        0.1,
        0,
        np.zeros(1),
        np.zeros((3, 4)),
        np.zeros(3),
        accuracy=1.0,
        seconds=0.0,
    )
    assert check_accuracy(r, replace(r, backend="torch"), seed_spec).passed
    off_by_one = check_accuracy(r, replace(r, backend="torch", accuracy=7 / 8), seed_spec)
    assert not off_by_one.passed and off_by_one.headroom == pytest.approx(2.0)


def test_a_diverged_run_is_marked_not_compared(small_spec, tmp_path):
    """lr 1e38 overflows float32 in one step: every run is marked diverged at epoch 1, no NaN is compared."""
    spec = tmp_path / "diverge.toml"
    spec.write_text(small_spec.read_text().replace("lr = 0.1", "lr = 1e38"))
    out = tmp_path / "reports"
    code, stdout, stderr = compare(out, "--spec", spec, "--dtypes", "float32", "--backends", "numpy", "--no-plots")
    assert code == 1, stdout + stderr
    data = load(out)
    diverged = [c for c in data["checks"] if c["check"] == "diverged"]
    assert [(c["a"], c["b"], c["passed"]) for c in diverged] == [("numpy", "at epoch 1", False)]
    assert not [c for c in data["checks"] if c["check"] in ("costs", "expected", "params")]
    assert "numpy (float32) diverged at epoch 1" in stdout.strip().splitlines()[-1]


@pytest.mark.slow
def test_a_spec_without_expected_costs_reports_the_expected_check_as_skipped_with_the_reason(small_spec, tmp_path):
    other = next((b for b in INSTALLED if b != "numpy"), None)
    if other is None:
        pytest.skip("one backend alone and no expected costs: nothing to compare")
    spec = tmp_path / "no-costs.toml"
    text = re.sub(r"(?m)^costs = \[.*\]$", "costs = []", small_spec.read_text())
    spec.write_text(re.sub(r"(?m)^source = .*$", 'source = ""', text))
    assert load_spec(spec).expected_costs == ()
    out = tmp_path / "reports"
    code, stdout, stderr = compare(out, "--spec", spec, "--backends", f"numpy,{other}", "--no-plots", "--dtypes",
                                   "float32,float64")  # fmt: skip
    assert code == 0, stdout + stderr
    why = (
        f"spec 'seed-short' lists no expected costs ([expected] costs is empty; "
        f"softmax-rosetta expected {spec} --write computes them)"
    )
    # the console summary
    assert f"\nSkipped: expected (float32, float64): {why}.\n" in stdout
    assert re.search(r"(?m)^\| expected +\| float64 +\| +0 \|( +\|){5} skipped \|$", stdout)
    # report.md: the summary's heading, its table and the reason; the trajectory's details
    md = (out / "report.md").read_text()
    summary = md.split("\n## Summary: ")[1].split("\n## ")[0]
    assert summary.startswith(f"{len(load(out)['checks'])} of {len(load(out)['checks'])} checks pass, 2 skipped\n")
    assert len(re.findall(r"(?m)^\| expected +\| float(32|64) +\| +0 \|( +\|){5} skipped \|$", summary)) == 2
    escaped = why.replace("[", "\\[").replace("]", "\\]")
    assert f"Skipped: expected (float32, float64): {escaped}." in summary
    details = md.split("### Training trajectory")[1].split("\n### ")[0]
    assert f"Skipped: expected (float32, float64): {escaped}." in details
    # report.json
    data = load(out)
    assert data["summary"]["skipped"] == 2 and not [c for c in data["checks"] if c["check"] == "expected"]
    assert data["skipped_checks"] == [
        {"group": "trajectory", "check": "expected", "dtype": d, "reason": why} for d in ("float32", "float64")
    ]
    # junit.xml: a skipped test case per dtype, in the trajectory's suite
    suite = ET.parse(out / "junit.xml").getroot().find("testsuite[@name='agreement.trajectory']")
    skipped = [(c.get("classname"), c.get("name"), c.find("skipped").get("message")) for c in suite
               if c.find("skipped") is not None]  # fmt: skip
    assert skipped == [(f"agreement.trajectory.{d}", "expected (skipped)", why) for d in ("float32", "float64")]
    assert suite.get("skipped") == "2"


def test_a_spec_with_expected_costs_skips_no_check(small_spec):
    report = _numpy_report(small_spec, ["float32", "float64"])
    assert report.skipped_checks == [] and [c for c in report.checks if c.check == "expected"]


# --- the plots and what report.md says about them ------------------------------------------------


def _numpy_report(spec_path, dtypes):
    """The report of real NumPy runs on the spec, built as ``compare`` builds it (without its processes)."""
    from softmax_rosetta import get_backend
    from softmax_rosetta.tools.report import model

    spec = load_spec(spec_path)
    trained = {d: get_backend("numpy", dtype=d).train(spec) for d in ("float32", "float64")}
    ran = runs.BackendRun("numpy", True, 0.0, device="cpu", variants=["lesson"], runs=[trained[d] for d in dtypes])
    reference = runs.BackendRun("numpy", True, 0.0, runs=[trained["float64"]])
    status = model.BackendStatus("numpy", "ran", requested=True, device="cpu", run=ran)
    return model.build_report(spec, dtypes, "cpu", 1.0, [status], reference, ["compare"], "now")


def test_the_summary_says_all_identical_when_no_pair_differs():
    from types import SimpleNamespace

    from softmax_rosetta.tools.report.markdown import summary_table

    same = [_check("numpy", "torch", 0.0, check="softmax"), _check("numpy", "jax", 0.0, check="softmax")]
    differ = [_check("numpy", "torch", 0.0), _check("numpy", "jax", 3e-7), _check("torch", "jax", 1e-7)]
    rows = summary_table(SimpleNamespace(checks=same + differ, skipped_checks=[]))[2:]
    assert [row.split("|")[7].strip() for row in rows] == ["all identical", "numpy vs jax"]


def test_zigzag_counts_the_epochs_where_the_cost_goes_up():
    from softmax_rosetta.tools.report.plots import zigzag

    assert zigzag([3.0, 1.0, 2.0, 0.5, 0.75, 0.25]) == (2, 1.0)
    assert zigzag([3.0, 2.0, 1.0]) == (0, 0.0)


@pytest.mark.skipif(not HAVE_PLOT, reason="matplotlib is not installed (pip install 'softmax-rosetta[plot]')")
def test_deviation_png_has_a_panel_per_dtype_names_the_reference_and_says_identical(small_spec, tmp_path):
    """NumPy float32 and float64: float32 sits float32 rounding away from the reference (a log-scale
    panel: its running maximum over the float32 rounding envelope, a band); the only float64 run is the
    reference itself, all zeros."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from softmax_rosetta.tools.report import plots

    report = _numpy_report(small_spec, ["float32", "float64"])
    fig = plots.deviation_figure(report, plt)
    try:
        f32, f64 = fig.axes
        legends = {ax: [t.get_text() for t in ax.get_legend().get_texts()] for ax in (f32, f64)}
        assert [ax.get_legend().get_title().get_text() for ax in (f32, f64)] == ["reference: numpy float64"] * 2
        assert f32.get_title().startswith("float32") and f32.get_yscale() == "log"
        assert legends[f32] == ["numpy float32", "rounding envelope\n(derived now)"]  # seed-short: its own epochs
        assert "identical" not in f32.get_title()
        (line,) = f32.get_lines()[:1]  # the run's line: its largest difference so far, never falling
        drawn = np.asarray(line.get_ydata(), dtype=float)
        assert np.all(np.diff(drawn[np.isfinite(drawn)]) >= 0)
        diff = dict(plots.deviation_panels(report))["float32"][0][1]
        assert np.nanmax(drawn) == diff.max()
        assert len(f32.collections) == 1  # the band
        band_top = report.tolerances["float32"].costs
        assert np.nanmax(drawn) <= band_top.max()
        assert f64.get_title() == "float64: identical to the reference (numpy float64) at every epoch"
        assert [label.replace("\n", " ") for label in legends[f64]] == ["numpy float64: the reference itself"]
        assert any(t.get_text().startswith("identical: every float64 run") for t in f64.texts)
        assert f64.get_yscale() == "linear" and list(f64.get_yticks()) == [0]
    finally:
        plt.close(fig)

    alone = _numpy_report(small_spec, ["float64"])
    fig = plots.deviation_figure(alone, plt)
    try:
        assert len(fig.axes) == 1 and "identical" in fig.axes[0].get_title()
    finally:
        plt.close(fig)

    # report.md says what the plots show: the band, the reference, and that float64 is identical
    from softmax_rosetta.tools.report.markdown import markdown

    report.plots = plots.write_plots(report, tmp_path)
    assert report.plots == {"files": ["loss.png", "deviation.png"], "skipped": None}
    text = markdown(report)
    rises, most = plots.zigzag(report.reference.costs)
    assert rises > 0  # the seed spec's cost goes up and down from epoch to epoch from the start
    assert "The grey band is not disagreement" in text
    assert f"the cost goes up at {rises} of its 40 steps, by up to {most:.2g}" in text
    assert "The reference is the float64 numpy run of the lesson's loop" in text
    assert "over a grey band: how far two correct runs of that dtype may differ (float32: the derived" in text
    assert "Every float64 run is identical to the reference." in text
    assert "Every float32 run" not in text
