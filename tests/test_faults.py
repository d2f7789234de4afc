"""Faults and concurrency at the command line, with real processes and real signals, each bounded in time.

- two ``compare`` runs into one --out: the second is refused at once (exit 2), the first's report is whole;
- a ``compare`` stopped by SIGTERM, SIGHUP or Ctrl-C while a backend's process runs: that process and
  everything it started are gone, and so are the temporary folder and files; killed outright
  (SIGKILL), its backend's process dies with it (Linux), and the next run clears what it left;
- a stdout that goes away (``| head -1``) or is full (``> /dev/full``): no traceback, no noise;
- Ctrl-C as ``main`` starts: one line, exit 130.

The backend process of most of these runs is a stand-in (``runs.FUNCTION`` pointed at a module
written here) that starts a child of its own, says who is running, and waits to be released or
stopped, so that each signal lands while a worker runs, not before or after it.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "softmax_rosetta.tools.cli"]
BOUND = 120  # seconds: the most any process here may take

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc (Linux)")

STAND_IN = '''
import os, subprocess, sys, time

def backend_outputs(**kwargs):
    """Start a child, write both pids, wait for the release file, then do the real work."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    with open({pids!r} + ".part", "w") as f:
        f.write(f"{{os.getpid()}} {{child.pid}}")
    os.replace({pids!r} + ".part", {pids!r})
    deadline = time.monotonic() + {bound}
    while not os.path.exists({release!r}) and time.monotonic() < deadline:
        time.sleep(0.05)
    child.kill()
    from softmax_rosetta.tools.report.runs import backend_outputs as real
    return real(**kwargs)
'''
USE_STAND_IN = "from softmax_rosetta.tools.report import runs; runs.FUNCTION = 'stand_in:backend_outputs'"


@pytest.fixture
def small_spec(short_seed_spec):
    """The seed spec cut to 40 epochs (conftest's short_seed_spec)."""
    return short_seed_spec


class StandIn:
    """The stand-in backend module in ``folder``: where it writes its pids, the file that releases it."""

    def __init__(self, folder: Path):
        self.folder, self.pids, self.release = folder, folder / "pids", folder / "release"
        code = STAND_IN.format(pids=str(self.pids), release=str(self.release), bound=BOUND)
        (folder / "stand_in.py").write_text(code)

    def started(self, proc: subprocess.Popen) -> tuple[int, int]:
        """Wait until the stand-in runs; (its pid, its child's pid)."""
        wait_for(lambda: self.pids.exists() or proc.poll() is not None, "the backend's process to start")
        assert self.pids.exists(), proc.communicate(timeout=BOUND)
        worker, child = map(int, self.pids.read_text().split())
        return worker, child


@pytest.fixture
def stand_in(tmp_path):
    folder = tmp_path / "stand-in"
    folder.mkdir()
    return StandIn(folder)


def as_from_a_terminal() -> None:
    """In the child, before exec: default signal dispositions and none blocked, as a shell's foreground
    command starts (an ignored or blocked signal would be inherited from the pytest process)."""
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(s, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def start(argv, *, tmp, stand_in=None, prelude="", stdout=subprocess.PIPE, env=None) -> subprocess.Popen:
    """``softmax-rosetta ARGV`` in a fresh process, its temporary files under ``tmp`` (``env``: added)."""
    env = {k: v for k, v in {**os.environ, **(env or {})}.items() if k != "GITHUB_STEP_SUMMARY"}
    env["TMPDIR"] = str(tmp)
    if stand_in is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(stand_in.folder), os.environ.get("PYTHONPATH")]))
        prelude = f"{USE_STAND_IN}\n{prelude}"
    argv = [str(a) for a in argv]
    if prelude:
        code = f"{prelude}\nimport sys\nfrom softmax_rosetta.tools.cli import main\nsys.exit(main({argv!r}))"
        cmd = [sys.executable, "-c", code]
    else:
        cmd = [*CLI, *argv]
    return subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=stdout, stderr=subprocess.PIPE, text=True, preexec_fn=as_from_a_terminal
    )


def wait_for(condition, what, timeout=BOUND):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout} s for {what}")
        time.sleep(0.05)


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def in_group(pgid: int) -> list[int]:
    """The live processes of process group ``pgid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def kill_quietly(*pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture
def temp(tmp_path):
    """The runs' TMPDIR: empty, so that whatever is left in it was left by the run."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    return folder


@pytest.mark.slow
def test_a_second_run_into_the_same_out_is_refused_and_the_first_report_is_whole(small_spec, stand_in, temp, tmp_path):
    out = tmp_path / "out"
    first = start(["compare", "--backends", "numpy", "--spec", small_spec, "--out", out], tmp=temp, stand_in=stand_in)
    try:
        stand_in.started(first)  # the first run holds --out now
        second = start(["compare", "--backends", "numpy", "--spec", small_spec, "--out", out], tmp=temp)
        stdout, stderr = second.communicate(timeout=BOUND)
        assert second.returncode == 2, stdout + stderr
        assert stderr.count("\n") == 1 and "Traceback" not in stderr, stderr
        assert f"--out: '{out}' is in use by another softmax-rosetta compare run (process {first.pid})" in stderr
        assert stdout == ""  # nothing ran
        assert [p.name for p in out.iterdir()] == [".softmax-rosetta.lock"]  # the first run's; nothing else
        stand_in.release.touch()
        stdout, stderr = first.communicate(timeout=BOUND)
    finally:
        kill_quietly(first.pid)
    assert first.returncode == 0, stdout + stderr
    data = json.loads((out / "report.json").read_text())
    assert data["environment"]["parent"]["process"]["pid"] == first.pid
    assert data["verdict"] == "pass"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["report.md", "report.json", "junit.xml", *data["plots"]["files"]]
    ), "a lock or temporary file was left in --out"
    # the folder is free again
    again = start(["compare", "--backends", "numpy", "--spec", small_spec, "--out", out, "--no-plots"], tmp=temp)
    stdout, stderr = again.communicate(timeout=BOUND)
    assert again.returncode == 0, stdout + stderr
    assert list(temp.iterdir()) == []


@pytest.mark.parametrize(
    "sig, status, line",
    [
        (signal.SIGTERM, 143, "softmax-rosetta: terminated (SIGTERM)"),
        (signal.SIGHUP, 129, "softmax-rosetta: terminated (SIGHUP)"),
        (signal.SIGINT, 130, "softmax-rosetta: interrupted"),
    ],
)
def test_a_signal_while_a_worker_runs_leaves_no_process_and_no_temporary_file(
    sig, status, line, small_spec, stand_in, temp, tmp_path
):
    out = tmp_path / "out"
    out.mkdir()
    (out / ".report.md.k3x9q_1z.tmp").write_text("half a report from a run that was killed")
    (out / ".junit.xml.a8b7c6d5.tmp").write_text("<testsu")
    (out / "report.md").write_text("# **PASS**: an old run\n")
    (out / "notes.txt").write_text("the user's own file\n")
    proc = start(["compare", "--backends", "numpy", "--spec", small_spec, "--out", out], tmp=temp, stand_in=stand_in)
    worker, child = stand_in.started(proc)
    try:
        assert alive(worker) and alive(child)
        assert in_group(worker) and child in in_group(worker)  # the worker leads its own process group
        assert sorted(p.name for p in out.iterdir()) == [".softmax-rosetta.lock", "notes.txt"]
        assert [p.name for p in temp.iterdir()]  # the worker's job folder, for now
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=BOUND)
        assert proc.returncode == status, stdout + stderr
        assert stderr == line + "\n"
        wait_for(lambda: not alive(worker) and not alive(child), "the worker and its child to be gone", timeout=10)
        assert in_group(worker) == []
        assert list(temp.iterdir()) == [], "a temporary folder or file was left behind"
        assert [p.name for p in out.iterdir()] == ["notes.txt"]
    finally:
        kill_quietly(proc.pid, worker, child)


def test_a_killed_run_takes_its_worker_with_it_and_the_next_run_clears_what_it_left(
    small_spec, stand_in, temp, tmp_path
):
    if not sys.platform.startswith("linux"):
        pytest.skip("a worker dies with its parent through Linux's PR_SET_PDEATHSIG")
    out = tmp_path / "out"
    proc = start(["compare", "--backends", "numpy", "--spec", small_spec, "--out", out], tmp=temp, stand_in=stand_in)
    worker, child = stand_in.started(proc)
    try:
        proc.kill()
        proc.communicate(timeout=BOUND)
        wait_for(lambda: not alive(worker), "the worker to die with its parent", timeout=10)
    finally:
        kill_quietly(proc.pid, worker, child)  # its child has no watchdog of its own: documented
    (out / ".report.json.zz9plural.tmp").write_text("{")  # what a run killed while writing leaves
    assert (out / ".softmax-rosetta.lock").exists()  # left by the kill, but no longer locked
    again = start(["compare", "--backends", "numpy", "--spec", small_spec, "--out", out, "--no-plots"], tmp=temp)
    stdout, stderr = again.communicate(timeout=BOUND)
    assert again.returncode == 0, stdout + stderr
    assert sorted(p.name for p in out.iterdir()) == ["junit.xml", "report.json", "report.md"]


# --- stdout: closed early, or full --------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "numpy", "--log-every", "1"],
        # the cost lines come from a worker process, through worker.run's progress channel
        pytest.param(["train", "jax", "--workers", "2", "--log-every", "1"], marks=pytest.mark.slow, id="jax-workers"),
    ],
    ids=lambda argv: argv[1] if isinstance(argv, list) else argv,
)
def test_train_into_a_closed_pipe_ends_quietly_with_141(argv, temp):
    if argv[1] != "numpy":
        from softmax_rosetta.testing import require_backend

        require_backend(argv[1])
    proc = start(argv, tmp=temp)
    try:
        assert proc.stdout.readline().startswith("epoch: 0 cost: ")
        proc.stdout.close()  # what `| head -1` does after its line
        proc.wait(timeout=BOUND)
        stderr = proc.stderr.read()
    finally:
        kill_quietly(proc.pid)
    assert proc.returncode == 141, stderr
    assert "Traceback" not in stderr and "Exception" not in stderr and "error" not in stderr, stderr


def test_compare_into_a_closed_pipe_ends_quietly_and_cleans_up(small_spec, temp, tmp_path):
    out = tmp_path / "out"
    proc = start(["compare", "--backends", "numpy", "--spec", small_spec, "--out", out], tmp=temp)
    try:
        head = proc.stdout.read(5)
        while head == "toler":  # "tolerances: ... derived now": the short spec's stored envelope is stale
            proc.stdout.readline()
            head = proc.stdout.read(5)
        assert head == "[1/1]"  # the first progress line, while the backend runs
        proc.stdout.close()
        proc.wait(timeout=BOUND)
        stderr = proc.stderr.read()
    finally:
        kill_quietly(proc.pid)
    assert proc.returncode == 141, stderr
    assert "Traceback" not in stderr and "Exception" not in stderr, stderr
    assert list(out.iterdir()) == [] and list(temp.iterdir()) == []


@pytest.mark.parametrize("unbuffered", ["1", ""], ids=["PYTHONUNBUFFERED", "buffered"])
def test_a_signal_during_a_large_write_loses_no_output(unbuffered, temp, tmp_path):
    """A signal that a library handles (torch's launcher leaves handlers for SIGINT, SIGTERM, SIGHUP and
    SIGQUIT) interrupts a write to a full pipe: the rest of the output still comes, whole. Unbuffered
    (``python -u``, PYTHONUNBUFFERED=1), Python's own print would lose it."""
    prelude = "import signal\nsignal.signal(signal.SIGUSR1, lambda *a: None)"
    env = {"PYTHONUNBUFFERED": unbuffered}
    from softmax_rosetta.tools.cli import main

    model, rows = tmp_path / "m.safetensors", tmp_path / "x.csv"
    assert main(["train", "numpy", "--epochs", "10", "--quiet", "--save", str(model)]) == 0
    rows.write_text("".join(f"{i % 7},{i % 5},{i % 3},1\n" for i in range(20000)))
    argv = ["predict", "--model", model, "--input", rows]  # its CSV: one write of about 1 MB
    proc = start(argv, tmp=temp, prelude=prelude, env=env)
    try:
        syscall = Path(f"/proc/{proc.pid}/syscall")  # "1 0x1 ...": blocked in write(1, ...)
        wait_for(lambda: syscall.read_text().startswith("1 0x1 ") or proc.poll() is not None, "a full stdout")
        for _ in range(5):  # each lands while the write waits for the reader
            os.kill(proc.pid, signal.SIGUSR1)
            time.sleep(0.05)
        out, err = proc.communicate(timeout=BOUND)
    finally:
        kill_quietly(proc.pid)
    assert proc.returncode == 0, err
    lines = out.splitlines()
    assert len(lines) == 20001 and lines[-1].startswith("19999,"), (len(out), lines[-1])


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("argv", [["train", "numpy"], ["train", "numpy", "--json"], ["specs"]])
def test_a_full_stdout_is_one_line_and_exit_1(argv, temp):
    with open("/dev/full", "w") as full:
        proc = start(argv, tmp=temp, stdout=full)
        _, stderr = proc.communicate(timeout=BOUND)
    assert proc.returncode == 1, stderr
    errors = [line for line in stderr.splitlines() if not line.startswith("#")]  # train's banner: what ran
    assert errors == ["softmax-rosetta: error: can't write to stdout: No space left on device"], stderr


# --- Ctrl-C as main starts ------------------------------------------------------------------

# A real SIGINT, sent by the process to itself as main builds its parser, before any command runs.
INTERRUPT_AT_START = """
import os, signal
from softmax_rosetta.tools import cli
build = cli._parser
def interrupted():
    os.kill(os.getpid(), signal.SIGINT)
    return build()
cli._parser = interrupted
"""


@pytest.mark.parametrize("argv", [["train", "numpy"], ["compare", "--backends", "numpy", "--no-plots"]])
def test_ctrl_c_as_main_starts_is_one_line_and_exit_130(argv, temp, tmp_path):
    argv = [*argv, "--out", str(tmp_path / "out")] if argv[0] == "compare" else argv
    proc = start(argv, tmp=temp, prelude=INTERRUPT_AT_START)
    stdout, stderr = proc.communicate(timeout=BOUND)
    assert proc.returncode == 130, stdout + stderr
    assert stderr == "softmax-rosetta: interrupted\n" and stdout == ""
    assert not (tmp_path / "out").exists()
