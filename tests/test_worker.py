"""``tools/worker.run``: what a child sends back travels on channels of its own, never on its stdout.

The child's stdout is shared with every process it launches (torch's ranks, a compiler's workers),
which may write to it at any moment; so the result comes back through a file and the progress
lines through a pipe only the child holds. These tests make a child whose own children write
into its stdout all the while, and check that the result and every progress line arrive whole.
Real processes, each bounded in time.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from softmax_rosetta.tools import worker

BOUND = 120  # seconds: the most one child here may take

NOISY = """
import os, subprocess, sys, time

from softmax_rosetta.tools import worker

# for SECONDS, lines made of many small writes: another process's line may land inside one
NOISE = (
    "import os, time\\n"
    "end = time.monotonic() + SECONDS\\n"
    "while time.monotonic() < end:\\n"
    "    [os.write(1, b'noise ') for _ in range(50)]\\n"
    "    os.write(1, b'.\\\\n')\\n"
    "    time.sleep(0.0002)\\n"
)


def big(rows, seconds):
    \"\"\"Start processes that write into this one's stdout while it sends progress and a large result.\"\"\"
    noise = [subprocess.Popen([sys.executable, "-c", NOISE.replace("SECONDS", str(seconds))]) for _ in range(2)]
    time.sleep(min(1.0, seconds / 3))  # they have started writing
    for i in range(rows):
        worker.progress(f"row {i} " + "x" * 300)
        time.sleep(0.0005)
        if i % 50 == 0:
            print("a line of the log", flush=True)
    for p in noise:
        p.wait()
    return {"rows": [[float(i) / 7] * 40 for i in range(rows)]}


def where(names):
    \"\"\"Where each module is imported from, in this process.\"\"\"
    import importlib

    return {name: importlib.import_module(name).__file__ for name in names}
"""


@pytest.fixture
def noisy(tmp_path, monkeypatch):
    """The module above, importable by the children (PYTHONPATH)."""
    folder = tmp_path / "noisy"
    folder.mkdir()
    (folder / "noisy.py").write_text(NOISY)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")])))
    return folder


def test_result_and_progress_arrive_whole_while_other_processes_write_to_the_childs_stdout(noisy):
    seen = []
    outcome = worker.run("noisy:big", {"rows": 600, "seconds": 1.5}, timeout=BOUND, on_progress=seen.append)
    assert outcome.ok, outcome.error
    assert outcome.result == {"rows": [[float(i) / 7] * 40 for i in range(600)]}  # about 0.5 MB of JSON
    assert seen == [f"row {i} " + "x" * 300 for i in range(600)]  # every line, in order, none cut or joined
    assert outcome.log.count("a line of the log") == 12 and "noise" in outcome.log  # the rest is the log


def test_progress_is_called_in_the_callers_thread_and_what_it_raises_stops_the_child(noisy):
    import threading

    threads = []

    def stop(line):
        threads.append(threading.current_thread())
        raise BrokenPipeError("the reader went away")

    start = time.monotonic()
    with pytest.raises(BrokenPipeError):
        worker.run("noisy:big", {"rows": 100000, "seconds": 0.1}, timeout=BOUND, on_progress=stop)
    assert threads == [threading.main_thread()]
    assert time.monotonic() - start < BOUND / 2  # the child was killed, not waited for


def test_a_failing_child_is_one_line():
    outcome = worker.run("softmax_rosetta.no_such_module:f", {}, timeout=BOUND)
    assert not outcome.ok and outcome.error.startswith("ModuleNotFoundError: No module named")


def test_progress_outside_a_child_does_nothing(capsys):
    worker.progress("nobody listens")
    assert capsys.readouterr() == ("", "")


def test_the_current_folder_never_shadows_the_package_or_its_dependencies(noisy, tmp_path, monkeypatch):
    """A child imports what the parent would, wherever the user stands (it runs with python -P)."""
    user = tmp_path / "user"
    for shadow in ("numpy.py", "json.py", "softmax_rosetta/__init__.py"):
        (user / shadow).parent.mkdir(parents=True, exist_ok=True)
        (user / shadow).write_text("raise ImportError('the folder the user stands in was imported')\n")
    monkeypatch.chdir(user)
    outcome = worker.run("noisy:where", {"names": ["numpy", "json", "softmax_rosetta"]}, timeout=BOUND)
    assert outcome.ok, outcome.error + outcome.log[-2000:]
    assert all(not path.startswith(str(user)) for path in outcome.result.values()), outcome.result


def test_the_cli_from_a_folder_with_a_numpy_py_still_runs_its_workers(tmp_path):
    """``compare`` runs each backend in a worker: from a folder that holds numpy.py, it still passes."""
    (tmp_path / "numpy.py").write_text("raise ImportError('the folder the user stands in was imported')\n")
    (tmp_path / "softmax_rosetta").mkdir()
    cli = Path(sys.executable).with_name("softmax-rosetta")
    if not cli.exists():
        pytest.skip(f"no softmax-rosetta script beside {sys.executable}")
    spec = tmp_path / "short.toml"
    done = subprocess.run([str(cli), "specs", "--copy", "seed", str(spec)], cwd=tmp_path, capture_output=True)
    assert done.returncode == 0, done.stderr
    done = subprocess.run(
        [str(cli), "compare", "--backends", "numpy", "--dtypes", "float64", "--out", "r", "--no-plots"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=BOUND,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "PASS" in done.stdout
