"""torch's cross-entropy options in every backend: F.cross_entropy and F.nll_loss, value and gradient.

One table of cases: each option alone and combined, all-ignored batches, C = 1, logits of
+-1e4 and -inf entries, the three shapes ((N, C), (N, C, d1, ...), unbatched (C,)), class
indices and class probabilities, negative class weights and empty batches; each run with every
reduction, in float32 and float64.
Expected values come from torch itself where it is installed, else from the float64 NumPy
reference (the table and it are in tools/conform/cases.py, shared with the conformance kit;
the reference is checked against torch here wherever torch is installed).

Tolerances, from the issue: float64 within 1e-12 relative, 1e-12 absolute near zero; float32
within torch.testing.assert_close's float32 defaults (rtol 1.3e-6, atol 1e-5). nan must meet
nan and inf the same inf: torch gives them for some cases (every target ignored, 0 * -inf).
"""

from functools import partial

import numpy as np
import pytest

from softmax_rosetta.registry import missing_packages
from softmax_rosetta.testing import require_backend
from softmax_rosetta.tools.conform.cases import (  # the table, shared with the conformance kit
    CASES,
    INDEX_CASES,
    REDUCTIONS,
    TOLERANCE,
    reference,
)
from softmax_rosetta.tools.conform.cases import nll_input as _nll_input

HAVE_TORCH = not missing_packages("torch")


def torch_value(case, reduction, dtype, *, gradient=False, nll=False):
    """What torch's F.cross_entropy (or F.nll_loss on log_softmax(z)) gives, in ``dtype``."""
    import torch
    import torch.nn.functional as F

    logits, target, options = case.args(dtype)
    x = torch.tensor(_nll_input(logits) if nll else logits)  # nll_loss: the log-probabilities the backends get
    if nll:
        options.pop("label_smoothing", None)
    x.requires_grad_(gradient)
    if "weight" in options:
        options["weight"] = torch.tensor(options["weight"])
    loss = (F.nll_loss if nll else F.cross_entropy)(x, torch.tensor(target), reduction=reduction, **options)
    if gradient:
        (grad,) = torch.autograd.grad(loss.sum(), x)
        return grad.numpy()
    return loss.detach().numpy()


def expected(case, reduction, dtype, *, gradient=False, nll=False):
    """torch's answer where torch is installed; else the float64 reference on the same inputs."""
    if HAVE_TORCH:
        return torch_value(case, reduction, dtype, gradient=gradient, nll=nll)
    logits, target, options = case.args(dtype)
    if nll:
        logits = _nll_input(logits)
        options.pop("label_smoothing", None)
    return reference(logits, target, reduction=reduction, gradient=gradient, log_probs=nll, **options)


def assert_matches(actual, wanted, dtype, what):
    actual = np.asarray(actual)
    assert actual.dtype == np.dtype(dtype), f"{what}: dtype {actual.dtype}, expected {dtype}"
    assert actual.shape == np.shape(wanted), f"{what}: shape {actual.shape}, expected {np.shape(wanted)}"
    np.testing.assert_allclose(
        actual.astype(np.float64),
        np.asarray(wanted, dtype=np.float64),
        equal_nan=True,
        err_msg=what,
        **TOLERANCE[dtype],
    )


# --- the table, in every backend -------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_cross_entropy_matches_torch(be, dtype, case, reduction):
    logits, target, options = case.args(dtype)
    wanted = expected(case, reduction, dtype)
    for level in case.levels():
        level_options = {k: v for k, v in options.items() if not (level == "nll" and k == "label_smoothing")}
        got = be.cross_entropy(logits, target, reduction=reduction, level=level, **level_options)
        assert_matches(got, wanted, dtype, f"{be.name} cross_entropy level={level}")


@pytest.mark.slow
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_cross_entropy_gradient_matches_torch(be, dtype, case, reduction):
    """NumPy by hand, torch by autograd, JAX by jax.grad; "none": the gradient of the sum."""
    logits, target, options = case.args(dtype)
    got = be.cross_entropy_grad(logits, target, reduction=reduction, **options)
    assert_matches(got, expected(case, reduction, dtype, gradient=True), dtype, f"{be.name} d cross_entropy / d logits")


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", INDEX_CASES, ids=lambda c: c.name)
def test_nll_loss_matches_torch(be, dtype, case, reduction):
    logits, target, options = case.args(dtype)
    lp = _nll_input(logits)
    got = be.nll_loss(lp, target, reduction=reduction, **options)
    assert_matches(got, expected(case, reduction, dtype, nll=True), dtype, f"{be.name} nll_loss")
    grad = be.nll_loss_grad(lp, target, reduction=reduction, **options)
    assert_matches(
        grad, expected(case, reduction, dtype, gradient=True, nll=True), dtype, f"{be.name} d nll_loss / d log_probs"
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_reference_matches_torch(case, reduction):
    """The float64 reference that stands in for torch where torch is missing is torch's answer."""
    require_backend("torch")
    logits, target, options = case.args("float64")
    assert_matches(
        reference(logits, target, reduction=reduction, **options),
        torch_value(case, reduction, "float64"),
        "float64",
        "reference value",
    )
    assert_matches(
        reference(logits, target, reduction=reduction, gradient=True, **options),
        torch_value(case, reduction, "float64", gradient=True),
        "float64",
        "reference gradient",
    )
    if case in INDEX_CASES:
        lp = _nll_input(logits)
        assert_matches(
            reference(lp, target, reduction=reduction, log_probs=True, **options),
            torch_value(case, reduction, "float64", nll=True),
            "float64",
            "reference nll_loss",
        )


# --- what the table shows, said once in words -------------------------------------------------
def test_the_table_has_what_torch_gives_at_the_edges():
    """Spot checks that the table holds torch's surprising answers, not just agreement."""
    by_name = {c.name: c for c in CASES}

    def ref(name, reduction="mean", **kw):
        c = by_name[name]
        return reference(c.logits, c.target, reduction=reduction, **c.options, **kw)

    assert np.isnan(ref("2d-all-ignored"))  # 0 / 0
    assert ref("2d-all-ignored", "sum") == 0.0
    assert np.all(ref("2d-all-ignored", gradient=True) == 0)  # ... with a zero gradient
    assert np.all(np.isnan(ref("2d-counted-weights-all-zero", gradient=True)[[0, 1, 3, 4]]))
    assert ref("C1-default") == 0.0
    assert np.isinf(ref("neg-inf-on-target")) and np.all(np.isfinite(ref("neg-inf-on-target", gradient=True)))
    assert np.isfinite(ref("neg-inf-smoothing-only-in-ignored"))
    assert np.isnan(ref("neg-inf-soft")) and np.isnan(ref("neg-inf-smoothing-zero-weight"))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_onehot_level_breaks_where_a_probability_underflows(be, reduction):
    """The lesson's reason for the fused op: -log(softmax(z)) meets log 0 = -inf off the target
    (0 * inf = nan) and on it (inf), where F.cross_entropy stays finite."""
    z = np.array([[0.0, -np.inf, 1.0], [1e4, -1e4, 0.0]])
    y = np.array([0, 1])
    fused = be.cross_entropy(z, y, reduction=reduction)
    onehot = be.cross_entropy(z, y, reduction=reduction, level="onehot")
    assert np.all(np.isfinite(fused))
    assert not np.all(np.isfinite(onehot))


# --- JAX: the same functions under jit, with no check inside ----------------------------------
@pytest.mark.slow
@pytest.mark.parametrize(
    "case",
    [c for c in CASES if c.name in ("4d-all-options", "soft-weight-smoothing", "unbatched-all-options")],
    ids=lambda c: c.name,
)
def test_jax_losses_run_under_jit(case):
    require_backend("jax")
    import jax
    import jax.numpy as jnp

    from softmax_rosetta.backends.jax_impl import functional as jf

    logits, target, options = case.args("float64")
    weight = options.pop("weight", None)
    label_smoothing = options.pop("label_smoothing", 0.0)
    ignore_index = options.pop("ignore_index", -100)
    z, t = jnp.asarray(logits), jnp.asarray(target)
    w = None if weight is None else jnp.asarray(weight)
    for reduction in REDUCTIONS:
        for fn in (jf.cross_entropy, jf.cross_entropy_grad, jf.cross_entropy_onehot):
            eager = fn(z, t, w, ignore_index, reduction, label_smoothing)
            # weight, ignore_index and the arrays are traced; reduction and label_smoothing static
            jitted = jax.jit(partial(fn, reduction=reduction, label_smoothing=label_smoothing))
            assert_matches(jitted(z, t, w, ignore_index), np.asarray(eager), "float64", f"jit {fn.__name__}")
