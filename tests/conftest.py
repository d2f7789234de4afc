"""Shared fixtures: backends by name, each skipped with its reason when its framework is missing.

The helpers tests import (assert_within, require_backend, ...) are in ``softmax_rosetta.testing``;
SOFTMAX_ROSETTA_BACKENDS and SOFTMAX_ROSETTA_REQUIRE are described there.
"""

import os
import re
import signal

# Under pytest-xdist (dev.py test: one worker per core), NumPy's OpenBLAS starts one thread per core
# in every worker, and its idle threads spin against the other worker's: one each. It reads the
# variable once, when NumPy is first imported, which is below. Processes the tests start inherit it;
# the benchmark sets its own (tools/bench/runner.py THREAD_VARS). A serial run is left as it is.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import pytest  # noqa: E402

from softmax_rosetta import get_backend, load_spec  # noqa: E402
from softmax_rosetta.registry import missing_packages
from softmax_rosetta.spec import DTYPES, SPEC_DIR
from softmax_rosetta.testing import require_backend, require_device, require_dtype, require_variant, selected_backends

SELECTED = selected_backends()


_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


@pytest.fixture(autouse=True)
def _signals_as_they_were():
    """Each test leaves the signals as it found them: dispositions and the blocked mask.

    A process the tests start inherits an ignored signal and the blocked mask (a handler is reset by
    exec, an ignored or blocked signal is not): one test that left SIGINT ignored or blocked (a library's
    clean-up, a CLI run in this process) made every later signal test in its pytest-xdist worker send a
    Ctrl-C that never arrived (exit 0 where 130 is the answer), depending on which tests ran before.
    """
    handlers = {s: signal.getsignal(s) for s in _SIGNALS}
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    yield
    if signal.pthread_sigmask(signal.SIG_BLOCK, []) != mask:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    for s, handler in handlers.items():
        if signal.getsignal(s) is not handler and handler is not None:
            signal.signal(s, handler)


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    """Each selected framework on one thread of its own for the tests (torch's is the one that matters).

    The tests' tensors are tiny (8 x 4 up to a few thousand rows), so torch runs their ops on
    one thread anyway and the numbers don't change; but its idle second thread spins against
    JAX's and OpenBLAS's pools on a 2-core machine and makes every small step many times slower
    when the cores are busy. Benchmarks pin threads themselves.
    """
    for name in SELECTED:
        if not missing_packages(name):
            get_backend(name).set_threads(1)
    yield


@pytest.fixture(params=SELECTED)
def backend_name(request):
    require_backend(request.param)
    return request.param


@pytest.fixture(params=DTYPES)
def dtype(request):
    return request.param


@pytest.fixture
def be(backend_name, dtype):
    """Each selected backend, on the CPU, in each dtype (skipped where it declares the dtype unsupported)."""
    require_dtype(backend_name, dtype)
    return get_backend(backend_name, dtype=dtype)


@pytest.fixture(scope="session")
def seed_spec():
    return load_spec("seed")


@pytest.fixture(scope="session")
def trained(seed_spec):
    """trained(backend, variant, dtype, device="cpu"): the seed spec's run, trained once per session."""
    cache = {}

    def run(name, variant, dtype, device="cpu"):
        key = (name, variant, dtype, device)
        if key not in cache:
            require_device(name, device)
            require_variant(name, variant)
            require_dtype(name, dtype, device)
            cache[key] = get_backend(name, device=device, dtype=dtype).train(seed_spec, variant=variant)
        return cache[key]

    return run


@pytest.fixture(scope="session")
def short_seed_spec(tmp_path_factory):
    """A copy of the seed spec cut to 40 epochs, the lesson's epoch-0 cost its only expected cost:
    a whole agreement report in seconds. Returns its path."""
    text = (SPEC_DIR / "seed.toml").read_text()
    text = re.sub(r'(?m)^name = "seed"', 'name = "seed-short"', text)
    text = re.sub(r"(?m)^epochs = \d+", "epochs = 40", text)
    text = re.sub(r"(?m)^every = \d+", "every = 20", text)
    text = re.sub(r"(?ms)^costs = \[(.*?)\]", lambda m: f"costs = [{m.group(1).split(',')[0].strip()}]", text)
    path = tmp_path_factory.mktemp("spec") / "seed-short.toml"
    path.write_text(text)
    spec = load_spec(path)
    assert spec.epochs == 40 and len(spec.expected_costs) == 1
    return path
