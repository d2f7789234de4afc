"""Memory: softmax and cross_entropy on a 100,000 x 1,000 float32 input (400 MB) in every backend
make no float64 copy and peak at a small multiple of the input's memory.

Each backend runs in a fresh process, which reads its own peak resident memory (ru_maxrss)
before and after the calls. Measured on the 2-core CI machine (numpy 2.4.6, torch 2.13.0,
jax 0.10.2): NumPy 3.0x the input (max, z - max, exp), torch 2.0x (its copy of the input and
the output), JAX 2.7x (its device copy, the output; large inputs run jitted, see
backends/jax_impl/backend.py). A float64 copy of the input alone would add 2.0x more.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from softmax_rosetta.testing import require_backend, selected_backends

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 3.5  # times the input's bytes, above the peak before the calls

CHILD = r"""
import resource, sys
import numpy as np
from softmax_rosetta import get_backend

be = get_backend(sys.argv[1], dtype="float32")
# the code paths once on a small input, so one-time allocations (a framework's pools) don't count
be.softmax(np.zeros((4, 3), np.float32)); be.cross_entropy(np.zeros((4, 3), np.float32), np.zeros(4, np.int64))
z = np.random.default_rng(0).standard_normal((100_000, 1_000), dtype=np.float32)
y = np.random.default_rng(1).integers(0, 1_000, size=100_000)
peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
before = peak()
p = be.softmax(z)
assert p.dtype == np.float32 and p.shape == z.shape
del p
loss = be.cross_entropy(z, y)
assert loss.dtype == np.float32
print((peak() - before) / z.nbytes)
"""


@pytest.mark.slow
@pytest.mark.parametrize("name", selected_backends())
def test_large_softmax_and_cross_entropy_peak_memory(name):
    require_backend(name)
    out = subprocess.run([sys.executable, "-c", CHILD, name], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    ratio = float(out.stdout.strip().splitlines()[-1])
    assert ratio <= LIMIT, f"{name}: peak {ratio:.2f}x the input's memory (limit {LIMIT}x)"
