"""Saved runs: ``compare --save-runs`` / ``train --save-run`` on one machine, ``compare --runs`` anywhere,
``--baseline`` for the drift since last time, and the CI workflow that puts them together.

The two "machines" are two real ``softmax-rosetta`` processes with different host labels and a
different environment (OMP_NUM_THREADS set in one): what differs between machines is what their
runs record, and that is what the report must keep apart and name.
"""

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from softmax_rosetta.spec import load_spec
from softmax_rosetta.testing import require_backend
from softmax_rosetta.tools.report.saved_runs.identity import spec_hash

ROOT = Path(__file__).resolve().parent.parent


def cli(*args, env=None, cwd=ROOT):
    """``softmax-rosetta ARGS`` in a fresh process: (exit status, stdout, stderr)."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_STEP_SUMMARY", "OMP_NUM_THREADS")}
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "softmax_rosetta.tools.cli", *map(str, args)],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture(scope="module")
def short_spec(short_seed_spec):
    """The seed spec cut to 40 epochs (conftest's short_seed_spec)."""
    return short_seed_spec


@pytest.fixture(scope="module")
def two_machines(short_spec, tmp_path_factory):
    """numpy and torch runs saved by two processes, as two machines would: runs/linux-a, runs/mac-b."""
    require_backend("torch")
    root = tmp_path_factory.mktemp("machines")
    for label, env in (("linux-a", {}), ("mac-b", {"OMP_NUM_THREADS": "1"})):
        code, out, err = cli(
            "compare", "--spec", short_spec, "--backends", "numpy,torch", "--dtypes", "float32",
            "--save-runs", root / "runs" / label, "--label", label, "--out", root / f"report-{label}", "--no-plots",
            env=env,
        )  # fmt: skip
        assert code == 0, out + err
        assert f"(host label {label!r})" in out
    return root


def runs_of(folder):
    return sorted(Path(folder).rglob("*.json"))


def test_each_run_is_one_self_describing_file(two_machines, short_spec):
    files = runs_of(two_machines / "runs" / "linux-a")
    # numpy and torch in float32, and the float64 NumPy reference run (marked as such)
    # HOST-BACKEND-VARIANT-DTYPE-DEVICE-HASH.json: readable, and the hash of the whole identity
    assert [re.sub("-[0-9a-f]{10}[.]json$", "", f.name) for f in files] == [
        "linux-a-numpy-lesson-float32-cpu",
        "linux-a-numpy-lesson-float64-cpu",
        "linux-a-torch-lesson-float32-cpu",
    ]
    assert all(re.fullmatch(r".*-[0-9a-f]{10}[.]json", f.name) for f in files)
    data = json.loads(files[2].read_text())
    assert data["schema"] == "softmax-rosetta/saved-run" and data["schema_version"] == 1
    assert (data["host"], data["role"], data["backend"], data["dtype"], data["device"]) == (
        "linux-a", "compared", "torch", "float32", "cpu",
    )  # fmt: skip
    assert data["spec"]["hash"] == spec_hash(load_spec(short_spec))
    assert data["spec"]["toml"] == Path(short_spec).read_text()
    assert len(data["run"]["costs"]) == 41 and len(data["run"]["weight"]) == 3
    assert set(data["forward"]) == {"softmax", "log_softmax", "loss:onehot", "loss:nll", "loss:fused"}
    assert data["versions"]["torch"].startswith("2.") and "python" in data["environment"]["machine"]
    assert json.loads(files[1].read_text())["role"] == "reference"


def test_the_spec_hash_ignores_comments_and_layout_but_not_the_numbers(short_spec, tmp_path):
    text = Path(short_spec).read_text()
    reformatted = tmp_path / "b.toml"
    reformatted.write_text("# a comment\n\n" + text.replace('name = "seed-short"', 'name = "other-name"'))
    assert spec_hash(load_spec(reformatted)) == spec_hash(load_spec(short_spec))
    changed = tmp_path / "c.toml"
    changed.write_text(re.sub(r"(?m)^lr = .*", "lr = 0.02", text))
    assert spec_hash(load_spec(changed)) != spec_hash(load_spec(short_spec))


def test_runs_from_two_machines_make_one_report_naming_the_machines(two_machines, tmp_path):
    out = tmp_path / "report"
    code, stdout, stderr = cli("compare", "--runs", two_machines / "runs", "--out", out, "--no-plots")
    assert code == 0, stdout + stderr
    data = json.loads((out / "report.json").read_text())
    owners = {"numpy cpu on linux-a", "torch cpu on linux-a", "numpy cpu on mac-b", "torch cpu on mac-b"}
    assert {b["name"] for b in data["backends"]} == owners
    # every pair of the four is checked: the same backend on two machines is two runs
    pairs = {frozenset((c["a"], c["b"])) for c in data["checks"] if c["check"] == "costs"}
    assert len(pairs) == 6 and frozenset(("torch cpu on linux-a", "torch cpu on mac-b")) in pairs
    assert all(" on " in c["a"] for c in data["checks"])
    assert data["hosts"]["mac-b"]["process"]["env"]["OMP_NUM_THREADS"] == "1"
    assert "OMP_NUM_THREADS" not in data["hosts"]["linux-a"]["process"]["env"]
    assert data["reference"]["backend"] == "numpy" and data["verdict"] == "pass"
    md = (out / "report.md").read_text()
    assert "## Machines" in md and "| mac-b " in md and "OMP_NUM_THREADS=1" in md
    assert stdout.strip().splitlines()[-1].startswith("PASS: numpy cpu on linux-a, torch cpu on linux-a")


@pytest.mark.slow
def test_a_run_saved_by_train_joins_the_others(two_machines, short_spec, tmp_path):
    saved = tmp_path / "numpy64.json"
    code, _, err = cli(
        "train", "numpy", "--dtype", "float64", "--spec", short_spec,
        "--save-run", saved, "--label", "laptop", "--quiet",
    )  # fmt: skip
    assert code == 0, err
    # float32 as before; float64: the train run against the expected costs and linux-a's reference run
    code, stdout, stderr = cli("compare", "--runs", two_machines / "runs" / "linux-a", saved, "--out", tmp_path / "r")
    assert code == 0, stdout + stderr
    data = json.loads((tmp_path / "r" / "report.json").read_text())
    assert data["dtypes"] == ["float32", "float64"] and data["verdict"] == "pass"
    code, stdout, stderr = cli("compare", "--runs", saved, two_machines / "runs", "--dtypes", "float64", "--out",
                               tmp_path / "r64", "--no-plots")  # fmt: skip
    assert code == 0, stdout + stderr
    labels = {r["label"] for r in json.loads((tmp_path / "r64" / "report.json").read_text())["runs"]}
    assert labels == {"numpy cpu on laptop"}


def test_a_tampered_cost_fails_and_names_the_run_and_its_machine(two_machines, tmp_path):
    runs = tmp_path / "runs"
    for f in runs_of(two_machines / "runs"):
        target = runs / f.relative_to(two_machines / "runs")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f.read_text())
    (victim,) = (runs / "mac-b").glob("mac-b-torch-lesson-float32-cpu-*.json")
    data = json.loads(victim.read_text())
    data["run"]["costs"][20] += 1e-3
    victim.write_text(json.dumps(data))
    code, stdout, stderr = cli("compare", "--runs", runs, "--out", tmp_path / "r", "--no-plots")
    assert code == 1, stdout + stderr
    verdict = stdout.strip().splitlines()[-1]
    assert verdict.startswith("FAIL (pointing at torch cpu on mac-b): "), verdict
    failed = json.loads((tmp_path / "r" / "report.json").read_text())["failed_checks"]
    assert failed and all("torch cpu on mac-b" in (c["a"], c["b"]) for c in failed)


def test_drift_beyond_tolerance_fails_and_names_the_versions_that_changed(two_machines, tmp_path):
    # the baseline: mac-b's runs as they were "before the upgrade": an older torch, costs 1e-3 away
    old = tmp_path / "old"
    old.mkdir()
    for f in runs_of(two_machines / "runs" / "mac-b"):
        data = json.loads(f.read_text())
        if data["backend"] == "torch":
            data["run"]["costs"] = [c + 1e-3 for c in data["run"]["costs"]]
            data["versions"]["torch"] = data["settings"]["torch"] = "2.12.0"
        (old / f.name).write_text(json.dumps(data))
    out = tmp_path / "r"
    code, stdout, stderr = cli(
        "compare", "--runs", two_machines / "runs", "--baseline", old, "--out", out, "--no-plots"
    )  # fmt: skip
    assert code == 1, stdout + stderr
    verdict = stdout.strip().splitlines()[-1]
    assert "drift since" in verdict and "1 of 2 runs moved beyond tolerance" in verdict, verdict
    assert "torch 2.12.0 -> " in verdict and "worst: torch cpu on mac-b float32" in verdict
    drift = json.loads((out / "report.json").read_text())["drift"]
    entries = {e["run"]: e for e in drift["entries"]}
    assert set(entries) == {"numpy cpu on mac-b", "torch cpu on mac-b"}  # linux-a's runs are not in the baseline
    assert entries["numpy cpu on mac-b"]["passed"] and entries["numpy cpu on mac-b"]["cost_max_abs"] == 0
    torch = entries["torch cpu on mac-b"]
    assert not torch["passed"] and torch["cost_max_abs"] == pytest.approx(1e-3, rel=1e-3)
    assert torch["changed"]["torch"]["baseline"] == "2.12.0"
    assert "## Drift since the baseline" in (out / "report.md").read_text()
    assert 'name="agreement.drift"' in (out / "junit.xml").read_text()


def test_an_unchanged_baseline_report_passes(two_machines, tmp_path):
    # a plain compare's report.json names no host: its runs match the runs of any machine
    code, stdout, stderr = cli(
        "compare", "--runs", two_machines / "runs", "--baseline", two_machines / "report-linux-a" / "report.json",
        "--out", tmp_path / "r", "--no-plots",
    )  # fmt: skip
    assert code == 0, stdout + stderr
    drift = json.loads((tmp_path / "r" / "report.json").read_text())["drift"]
    assert drift["compared"] == 4 and drift["failed"] == 0


def _bad_files(folder, good):
    data = json.loads(good.read_text())
    cases = {"not-json.json": "{ this is not json"}
    cases["foreign.json"] = json.dumps({"schema": "someone-else/thing", "data": 1})
    cases["future.json"] = json.dumps({**data, "schema_version": 99})
    other = dict(data, spec=dict(data["spec"], toml=data["spec"]["toml"].replace("epochs = 40", "epochs = 20")))
    cases["edited-spec.json"] = json.dumps(other)
    missing = json.loads(good.read_text())
    del missing["run"]["weight"]
    cases["missing.json"] = json.dumps(missing)
    for name, text in cases.items():
        (folder / name).write_text(text)
    return cases


@pytest.mark.parametrize(
    "name, words",
    [
        ("not-json.json", "not JSON"),
        ("foreign.json", "not a saved run (its schema is 'someone-else/thing'"),
        ("future.json", "schema_version 99"),
        ("edited-spec.json", "does not match its spec.toml"),
        ("missing.json", "missing field 'run.weight'"),
    ],
)
def test_a_bad_file_is_refused_in_one_line(name, words, two_machines, tmp_path):
    _bad_files(tmp_path, runs_of(two_machines / "runs" / "linux-a")[0])
    code, stdout, stderr = cli("compare", "--runs", two_machines / "runs", tmp_path / name, "--out", tmp_path / "r")
    assert code == 2 and stdout == ""
    assert stderr.count("\n") == 1 and "Traceback" not in stderr, stderr
    assert name in stderr and words in stderr, stderr
    assert not (tmp_path / "r").exists()


def test_runs_of_different_specs_are_refused_in_one_line(two_machines, short_spec, tmp_path):
    other = tmp_path / "other.toml"
    text = Path(short_spec).read_text().replace('name = "seed-short"', 'name = "seed-other"')
    other.write_text(re.sub(r"(?m)^lr = .*", "lr = 0.05", text))
    assert load_spec(other).lr != load_spec(short_spec).lr
    code, _, err = cli("train", "numpy", "--spec", other, "--save-run", tmp_path / "o.json", "--quiet")
    assert code == 0, err
    code, stdout, stderr = cli("compare", "--runs", two_machines / "runs", tmp_path / "o.json", "--out", tmp_path / "r")
    assert code == 2 and stderr.count("\n") == 1, stderr
    assert "runs of different specs" in stderr and "o.json (seed-other, sha256:" in stderr


@pytest.mark.parametrize(
    "args, words",
    [
        (["--runs", "{runs}", "--backends", "numpy"], "--backends: not with --runs"),
        (["--runs", "{runs}", "--spec", "seed"], "--spec: not with --runs"),
        (["--runs", "{tmp}/nowhere"], "--runs: no such file or folder"),
        (["--runs", "{tmp}"], "--runs: no saved runs (*.json) in the folder"),
        (["--runs", "{runs}", "--dtypes", "float64"], "--dtypes: no saved float64 run to compare"),
        (["--runs", "{runs}", "--baseline", "{tmp}/nothing.json"], "--baseline: no such file or folder"),
        (["--runs", "{runs}/linux-a", "{runs}/linux-a/../linux-a"], None),  # the same files twice: read once
    ],
)
def test_usage_errors_with_saved_runs_are_one_line(args, words, two_machines, tmp_path):
    argv = [a.format(runs=two_machines / "runs", tmp=tmp_path) for a in args]
    code, stdout, stderr = cli("compare", *argv, "--out", tmp_path / "r", "--no-plots")
    if words is None:
        assert code == 0, stdout + stderr
        return
    assert code == 2 and stderr.count("\n") == 1 and words in stderr, stderr


def test_the_same_run_in_two_folders_is_read_once_and_said_so(two_machines, tmp_path):
    (tmp_path / "copy").mkdir()
    for f in runs_of(two_machines / "runs" / "linux-a"):
        data = json.loads(f.read_text())
        data["created"] = "2001-01-01T00:00:00+00:00"  # saved another time, the run took another time
        data["run"]["seconds"] += 1
        data["environment"]["process"]["pid"] = 1
        (tmp_path / "copy" / ("x" + f.name)).write_text(json.dumps(data))
    code, stdout, stderr = cli(
        "compare", "--runs", two_machines / "runs", tmp_path / "copy", "--out", tmp_path / "r", "--no-plots"
    )
    assert code == 0, stdout + stderr
    notes = stderr.splitlines()
    assert len(notes) == 3 and all(n.startswith("softmax-rosetta: note: ") for n in notes), stderr
    assert all(n.endswith("; using the first") and " are the same run (" in n for n in notes), stderr
    assert "numpy cpu float64 on linux-a" in stderr
    runs = json.loads((tmp_path / "r" / "report.json").read_text())["runs"]
    assert len(runs) == 4  # numpy and torch on each of the two machines, once


def test_two_different_runs_under_one_identity_are_refused_naming_both_files(two_machines, tmp_path):
    (tmp_path / "copy").mkdir()
    (original,) = (two_machines / "runs" / "linux-a").glob("linux-a-torch-*.json")
    data = json.loads(original.read_text())
    data["run"]["costs"][5] += 1e-6
    (tmp_path / "copy" / "other.json").write_text(json.dumps(data))
    code, stdout, stderr = cli("compare", "--runs", two_machines / "runs", tmp_path / "copy", "--out", tmp_path / "r")
    assert code == 2 and stdout == "" and stderr.count("\n") == 1, stderr
    assert stderr == (
        f"softmax-rosetta: error: {original} and {tmp_path / 'copy' / 'other.json'}: two different runs of "
        "torch cpu float32 on linux-a (they differ in run.costs); give each machine its own --label when saving\n"
    )


def test_save_run_is_checked_before_training(tmp_path):
    code, stdout, stderr = cli("train", "numpy", "--save-run", tmp_path / "missing" / "run.json")
    assert code == 2 and stdout == "" and "--save-run: can't write" in stderr, stderr
    code, _, stderr = cli("train", "numpy", "--save-run", tmp_path / "r.json", "--epochs", "3")
    assert code == 2 and "--save-run: not with --epochs" in stderr
    code, _, stderr = cli("train", "numpy", "--label", "x")
    assert code == 2 and "--label: only with --save-run" in stderr


# --- the CI example ---------------------------------------------------------------------------

WORKFLOW = ROOT / ".github" / "workflows" / "agreement-matrix.yml"


def test_the_agreement_matrix_workflow_is_valid_and_its_commands_parse():
    yaml = pytest.importorskip("yaml")
    flow = yaml.safe_load(WORKFLOW.read_text())
    jobs = flow["jobs"]
    matrix = jobs["runs"]["strategy"]["matrix"]
    assert {"ubuntu-latest", "macos-latest"} <= set(matrix["os"]) and len(matrix["torch"]) == 2
    assert "runs" in jobs["report"]["needs"]
    from softmax_rosetta.tools.cli import _parser

    parser = _parser()
    commands = []
    for job in jobs.values():
        for step in job["steps"]:
            for line in step.get("run", "").splitlines():
                if line.strip().startswith("softmax-rosetta "):
                    commands.append(line.strip())
    assert any("--save-runs" in c for c in commands) and any("--runs" in c for c in commands)
    for command in commands:
        argv = shlex.split(re.sub(r"\$\{\{[^}]*\}\}", "X", command).rstrip("\\ ").split(" || ")[0])[1:]
        args = parser.parse_args(argv)  # a command the CLI does not have is SystemExit here
        assert args.command == "compare"


@pytest.mark.slow
def test_a_run_only_on_one_side_of_the_baseline_says_so(two_machines, short_spec, tmp_path):
    # torch on 2 data-parallel workers ("torch:x2") is another run than torch in one process: against a
    # baseline without it, it is "not in the baseline", never compared with the one-process run
    x2 = tmp_path / "x2.json"
    code, _, err = cli(
        "train", "torch", "--workers", "2", "--spec", short_spec, "--save-run", x2, "--label", "linux-a", "--quiet"
    )
    assert code == 0, err
    linux_a = two_machines / "runs" / "linux-a"
    for runs, baseline, side in (
        ([linux_a, x2], two_machines / "report-linux-a", "new"),  # a plain compare's report: names no host
        ([linux_a], tmp_path / "with-x2", "gone"),  # saved runs that had it
    ):
        if side == "gone":
            baseline.mkdir()
            for f in [*runs_of(linux_a), x2]:
                (baseline / f.name).write_text(f.read_text())
        out = tmp_path / side
        code, stdout, stderr = cli("compare", "--runs", *runs, "--baseline", baseline, "--out", out, "--no-plots")
        assert code == 0, stdout + stderr
        drift = json.loads((out / "report.json").read_text())["drift"]
        assert {e["run"] for e in drift["entries"]} == {"numpy cpu on linux-a", "torch cpu on linux-a"}
        assert drift[side] == ["torch:x2 cpu on linux-a float32"] and drift[{"new": "gone", "gone": "new"}[side]] == []
        why = {"new": "not in the baseline", "gone": "in the baseline, not made now"}[side]
        section = (out / "report.md").read_text().split("## Drift since the baseline")[1].split("\n## ")[0]
        (row,) = [line for line in section.splitlines() if line.startswith("| torch:x2 ")]
        assert re.fullmatch(rf"\| torch:x2 cpu on linux-a +\| float32 +\|( +\|){{3}} {why} +\| not compared +\|", row)
        assert "nothing recorded changed" not in row
        junit = (out / "junit.xml").read_text()
        assert f'name="drift torch:x2 cpu on linux-a" time="0">\n      <skipped message="{why} ' in junit
