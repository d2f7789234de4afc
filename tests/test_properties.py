"""Properties of softmax and cross-entropy that must hold in every backend (hypothesis).

Profiles: the default ("quick") keeps CI short; HYPOTHESIS_PROFILE=thorough runs ten times as
many examples, up to the largest sizes more often:

    HYPOTHESIS_PROFILE=thorough pytest tests/test_properties.py

Arrays are drawn as (shape, seed, scale, share of -inf) and made with NumPy's Generator, so
hypothesis explores and shrinks the parameters while 4096 x 1000 inputs stay cheap to make.
Every backend is compared with a float64 NumPy computation on the same (dtype-rounded) input.
"""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from softmax_rosetta import get_backend
from softmax_rosetta.testing import computes_in, require_backend, selected_backends

# Every test here draws up to 4096 x 1000 arrays in every backend: 15 to 35 s each.
pytestmark = pytest.mark.slow

SELECTED = selected_backends()

settings.register_profile("quick", max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "quick"))

EPS = {"float32": float(np.finfo(np.float32).eps), "float64": float(np.finfo(np.float64).eps)}


def logits_and_targets(max_rows=4096, max_classes=1000):
    """(rows, classes, seed, scale, share of -inf): small to print, shrinkable; ``make`` builds the arrays."""
    return st.tuples(
        st.integers(1, max_rows),
        st.integers(1, max_classes),
        st.integers(0, 2**32 - 1),
        st.sampled_from([1e-3, 1.0, 30.0, 1e3, 1e4]),
        st.sampled_from([0.0, 0.0, 0.1, 0.5]),
    )


def make(params):
    rows, classes, seed, scale, neg_inf_share = params
    rng = np.random.default_rng(seed)
    z = rng.uniform(-scale, scale, size=(rows, classes))
    # -inf entries, never a whole row: each row keeps at least one finite logit, and the target is one
    finite_col = rng.integers(0, classes, size=rows)
    mask = rng.random((rows, classes)) < neg_inf_share
    mask[np.arange(rows), finite_col] = False
    z[mask] = -np.inf
    return z, finite_col


def reference(z):
    """float64 softmax, log_softmax and per-row cross-entropy pieces, written out."""
    m = np.max(z, axis=1, keepdims=True)
    shifted = z - m
    lse = np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    return np.exp(shifted - lse), shifted - lse


def bound(z, dtype):
    """A rounding bound per element: a few eps times the size of the numbers involved.

    log_softmax = (z - max) - log(sum exp(...)): each term is off by about eps times its size,
    and |z - max| reaches 2 * scale, so the error scales with the row's largest |finite z|.
    """
    finite = np.where(np.isfinite(z), np.abs(z), 0.0)
    size = np.max(finite, axis=1, keepdims=True) + 1.0 + np.log(z.shape[1])
    return 16 * EPS[dtype] * size


def backends():
    out = []
    for name in SELECTED:
        require_backend(name)
        out.extend(get_backend(name, dtype=d) for d in ("float32", "float64") if computes_in(name, d))
    return out


@pytest.fixture(scope="module")
def all_backends():
    return backends()


@given(data=logits_and_targets())
def test_softmax_and_log_softmax_properties(all_backends, data):
    z64, y = make(data)
    for be in all_backends:
        z = z64.astype(be.dtype)  # the input the backend actually sees
        zr = z.astype(np.float64)
        p, lp = be.softmax(z), be.log_softmax(z)
        p_ref, lp_ref = reference(zr)
        assert p.dtype == be.np_dtype and lp.dtype == be.np_dtype
        # rows sum to 1 and lie in [0, 1]
        assert np.all((p >= 0) & (p <= 1)), be.name
        np.testing.assert_allclose(
            p.astype(np.float64).sum(axis=1),
            1.0,
            rtol=0,
            atol=8 * EPS[be.dtype] * np.sqrt(z.shape[1]) + 4 * EPS[be.dtype],
            err_msg=be.name,
        )
        # agreement with the float64 reference (and so, transitively, across backends)
        np.testing.assert_allclose(p, p_ref, rtol=0, atol=16 * EPS[be.dtype], err_msg=f"{be.name} {be.dtype} softmax")
        finite = np.isfinite(lp_ref)
        assert np.array_equal(np.isfinite(lp), finite), (
            f"{be.name} {be.dtype}: -inf where the input is -inf, nowhere else"
        )
        err = np.abs(lp.astype(np.float64)[finite] - lp_ref[finite])
        assert np.all(err <= np.broadcast_to(bound(zr, be.dtype), z.shape)[finite]), (
            f"{be.name} {be.dtype} log_softmax: {err.max():.3g}"
        )
        # log_softmax = log(softmax) where softmax is a normal, non-zero number
        normal = p.astype(np.float64) > np.finfo(be.dtype).tiny * 1e6
        # (p is off by a few eps relative, so log p by a few eps absolute; lp by eps times its size)
        np.testing.assert_allclose(
            np.log(p.astype(np.float64)[normal]),
            lp.astype(np.float64)[normal],
            rtol=16 * EPS[be.dtype],
            atol=16 * EPS[be.dtype],
            err_msg=be.name,
        )


@given(data=logits_and_targets(max_rows=512, max_classes=200), shift=st.sampled_from([-100.0, -1.0, 0.5, 7.0, 1e3]))
def test_invariant_to_a_constant_per_row(all_backends, data, shift):
    z64, _ = make(data)
    rows = z64.shape[0]
    c = np.random.default_rng(rows).uniform(-1, 1, size=(rows, 1)) * shift
    for be in all_backends:
        z = z64.astype(be.dtype)
        moved = (z + c).astype(be.dtype)
        # adding c rounds the logits again: allow eps times the size of the shifted values
        tol = bound(np.concatenate([z, moved], axis=1).astype(np.float64), be.dtype) * 2
        np.testing.assert_allclose(be.softmax(moved), be.softmax(z), rtol=0, atol=float(np.max(tol)), err_msg=be.name)
        a, b = be.log_softmax(moved).astype(np.float64), be.log_softmax(z).astype(np.float64)
        finite = np.isfinite(b)
        assert np.array_equal(np.isfinite(a), finite)
        assert np.all(np.abs(a[finite] - b[finite]) <= np.broadcast_to(tol, z.shape)[finite]), be.name


@given(data=logits_and_targets(max_rows=1024, max_classes=300))
def test_cross_entropy_is_nonnegative_and_agrees(all_backends, data):
    z64, y = make(data)
    for be in all_backends:
        z = z64.astype(be.dtype)
        per_row = be.cross_entropy(z, y, reduction="none").astype(np.float64)
        _, lp_ref = reference(z.astype(np.float64))
        expected = -lp_ref[np.arange(len(y)), y]
        assert np.all(per_row >= 0), f"{be.name} {be.dtype}: negative loss {per_row.min()}"
        tol = bound(z.astype(np.float64), be.dtype)[:, 0]
        assert np.all(np.abs(per_row - expected) <= tol), (
            f"{be.name} {be.dtype}: {np.max(np.abs(per_row - expected)):.3g}"
        )
        mean = float(be.cross_entropy(z, y))
        assert abs(mean - expected.mean()) <= float(np.max(tol)), be.name


@given(data=logits_and_targets(max_rows=256, max_classes=50))
def test_fused_gradient_is_softmax_minus_onehot_over_n(data):
    """d mean CE / d logits = (softmax(z) - one_hot(y)) / N: NumPy's hand-written form, and torch/JAX autodiff."""
    z, y = make(data)
    z = np.where(np.isinf(z), -1e30, z)  # autodiff through exp(-inf) is fine, but keep the check finite
    n, c = z.shape
    p_ref, _ = reference(z)
    expected = (p_ref - np.eye(c)[y]) / n
    from softmax_rosetta.backends.numpy_impl.functional import cross_entropy_grad

    np.testing.assert_allclose(cross_entropy_grad(z, y), expected, rtol=0, atol=1e-15)
    if "torch" in SELECTED:
        require_backend("torch")
        import torch
        import torch.nn.functional as F

        t = torch.tensor(z, requires_grad=True)
        F.cross_entropy(t, torch.tensor(y)).backward()
        np.testing.assert_allclose(t.grad.numpy(), expected, rtol=0, atol=1e-15)
    if "jax" in SELECTED:
        require_backend("jax")
        import jax
        import optax

        g = jax.grad(lambda v: optax.softmax_cross_entropy_with_integer_labels(v, y).mean())(z)
        np.testing.assert_allclose(np.asarray(g), expected, rtol=0, atol=1e-15)
