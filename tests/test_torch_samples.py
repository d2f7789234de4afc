"""PyTorch's own test inputs for softmax and cross-entropy, run through every backend.

torch ships the inputs it tests its operators with (``torch.testing._internal``): the OpInfo samples
of ``softmax``, ``log_softmax``, ``nn.functional.cross_entropy`` and ``nn.functional.nll_loss`` (every
variant), and the ``module_db`` inputs and error inputs of ``Softmax``, ``LogSoftmax``,
``CrossEntropyLoss`` and ``NLLLoss``. Each goes through every backend's NumPy API (``be.softmax``,
``be.log_softmax``, ``be.cross_entropy`` at every level that can express it, ``be.nll_loss``, and for
the losses ``be.cross_entropy_grad`` / ``be.nll_loss_grad``), in float32 and float64, against torch's
own answer on the same input in the same dtype. Where torch raises, every backend raises a
``BackendError`` (a ``ValueError``) with the same words as the NumPy backend.

Importing ``torch.testing._internal`` changes the process that does it: it freezes ``torch.backends``'
flags, loads a hypothesis profile of its own (10 examples, which test_properties.py would inherit) and
patches ``torch.jit``. So the samples and torch's answers are made in a child process (this file run
as a script, torch's RNG seeded with 0) and come back as NumPy arrays. What frozen flags did to the
torch backend is tested here in-process: the flags are frozen the way torch freezes them, then put back.

Samples left out are counted, each kind with its reason (``LEFT_OUT``), by ``test_samples_left_out``,
which reports them as its skip message (``-ra`` prints it); every other sample is run.

Tolerance: |backend - torch| <= k eps * max(1, max |torch|) over each compared array, eps the dtype's,
nan meeting nan and inf the same inf; k (``TOLERANCE_EPS``) is measured over every sample, level,
gradient, backend and dtype (run this file with ``--measure`` to measure again) and given room: 4 eps
for softmax, log_softmax and the gradients (worst 1.5), 32 eps for the losses' values (worst 12).
"""

import importlib.util
import os
import pickle
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from softmax_rosetta import BackendError, get_backend
from softmax_rosetta.registry import missing_packages
from softmax_rosetta.spec import DTYPES
from softmax_rosetta.testing import require_backend, selected_backends
from softmax_rosetta.tools.conform import torch_samples as judged  # how an answer is judged, shared with the kit

# the samples' sources: OpInfos (every variant) by name, and module_db entries by class
OPS = ("softmax", "log_softmax", "nn.functional.cross_entropy", "nn.functional.nll_loss")
MODULES = ("Softmax", "LogSoftmax", "CrossEntropyLoss", "NLLLoss")
SOURCES = [f"op {name}" for name in OPS] + [f"module {name}" for name in MODULES]
HEAVY = {"op nn.functional.cross_entropy", "op nn.functional.nll_loss", "module CrossEntropyLoss", "module NLLLoss"}
CALL_OF = {
    "softmax": "softmax",
    "log_softmax": "log_softmax",
    "nn.functional.cross_entropy": "cross_entropy",
    "nn.functional.nll_loss": "nll_loss",
    "Softmax": "softmax",
    "LogSoftmax": "log_softmax",
    "CrossEntropyLoss": "cross_entropy",
    "NLLLoss": "nll_loss",
}
FIRST = {"softmax": "dim", "log_softmax": "dim", "cross_entropy": "target", "nll_loss": "target"}
LOSS_OPTIONS = {
    "cross_entropy": ("weight", "ignore_index", "reduction", "label_smoothing"),
    "nll_loss": ("weight", "ignore_index", "reduction"),
}

LEFT_OUT = {
    "dtype-argument": "softmax(..., dtype=) casts the input first; the API has no dtype argument "
    "(a backend computes in its own dtype)",
    "mixed-dtypes": "a weight in another float dtype than the input's (torch refuses the mix); the API "
    "casts every float argument to the backend's dtype",
    "requires-grad-twin": "the same input and options as a requires_grad=True sample that is run; "
    "the API has no requires_grad (be.cross_entropy_grad asks for the gradient)",
}

# |backend - torch| / max(1, max |torch|), in eps of the dtype, per kind of result: the worst measured
# over every sample, backend and dtype (python tests/test_torch_samples.py --measure), and the tolerance
#   softmax, log_softmax   1.5 eps (jax float64)                        tolerance 4 eps
#   the losses' values     12 eps (numpy float32, nll_loss #53, "sum")  tolerance 32 eps
#   their gradients        1.5 eps (numpy float32, CrossEntropyLoss)    tolerance 4 eps
# The losses' worst are sums whose terms cancel (inputs or class weights of both signs): rounding is eps
# of the terms' size, many times the result's; torch's own one-hot formula is 8.4 eps from its fused op
# on CrossEntropyLoss 2d_prob_target_weights_sum.
# (the tolerance and how a backend's answer is judged live in tools/conform/torch_samples.py, shared
# with the conformance kit, which runs these samples stored as data: scripts/store_torch_samples.py)


# --- the child process: torch's samples and torch's answers --------------------------------------
def make_samples(path):
    """Every sample of every source, in float32 and float64, with torch's answer, pickled to ``path``."""
    import torch

    torch.set_num_threads(1)
    cases = []
    for dtype in DTYPES:
        for requires_grad in (True, False):
            cases += _op_cases(dtype, requires_grad) + _module_cases(dtype, requires_grad)
    _mark_twins(cases)
    with open(path, "wb") as fh:
        pickle.dump(cases, fh)


def _op_cases(dtype, requires_grad):
    """The OpInfo samples, and error inputs where an op has them: op(input, dim or target, **options)."""
    import torch
    from torch.testing._internal.common_methods_invocations import op_db

    cases = []
    for op in (op for op in op_db if op.name in OPS):
        label = op.name + (f" ({op.variant_test_name})" if op.variant_test_name else "")
        torch.manual_seed(0)
        made = op.sample_inputs("cpu", getattr(torch, dtype), requires_grad=requires_grad)
        samples = [(f"#{i}", s) for i, s in enumerate(made)]
        if op.error_inputs_func is not None:
            torch.manual_seed(0)
            samples += [(f"error #{i}", e.sample_input) for i, e in enumerate(op.error_inputs("cpu"))]
        for tag, s in samples:
            call, options = CALL_OF[op.name], dict(s.kwargs)
            first, rest = (s.args[0], list(s.args[1:])) if s.args else (options.pop(FIRST[call]), [])

            def run(x, op=op, s=s):
                return op(x, *s.args, **s.kwargs)

            where = (f"op {op.name}", f"{label} {tag}", dtype, requires_grad)
            cases.append(_case(*where, call, s.input, first, rest, options, run))
    return cases


def _module_cases(dtype, requires_grad):
    """The module_db inputs and error inputs: Module(*constructor args)(input, target), the options
    (Softmax's dim, CrossEntropyLoss' weight, ...) given to the constructor."""
    import torch
    from torch.testing._internal.common_modules import module_db

    cases = []
    for m in (m for m in module_db if m.module_cls.__name__ in MODULES):
        cls, call = m.module_cls, CALL_OF[m.module_cls.__name__]
        make = {"device": "cpu", "dtype": getattr(torch, dtype), "requires_grad": requires_grad, "training": True}
        torch.manual_seed(0)
        inputs = [("", mi) for mi in m.module_inputs_func(m, **make)]
        if m.module_error_inputs_func is not None:
            torch.manual_seed(0)
            inputs += [("error ", e.module_error_input) for e in m.module_error_inputs_func(m, **make)]
        for i, (kind, mi) in enumerate(inputs):
            c, f = mi.constructor_input, mi.forward_input
            options = {**c.kwargs, **f.kwargs}
            if call in LOSS_OPTIONS:
                first, rest = f.args[1], [*c.args, *f.args[2:]]
            else:
                first, rest = (c.args[0], list(c.args[1:])) if c.args else (options.pop(FIRST[call]), [])
                rest += list(f.args[1:])

            def run(x, cls=cls, c=c, f=f):
                return cls(*c.args, **c.kwargs)(x, *f.args[1:], **f.kwargs)

            where = (f"module {cls.__name__}", f"{cls.__name__} {kind}{mi.desc or 'plain'} #{i}", dtype, requires_grad)
            cases.append(_case(*where, call, f.args[0], first, rest, options, run))
    return cases


def _case(source, name, dtype, requires_grad, call, input, first, rest, options, run):
    """One sample as plain data: the API's arguments, why it is left out (if it is), and torch's value
    and gradient, or its error. ``run(x)`` is torch's op on the input x."""
    import torch

    loss = call in LOSS_OPTIONS
    case = {"source": source, "name": name, "dtype": dtype, "requires_grad": requires_grad, "call": call}
    case["input"] = _numpy(input)
    case["target" if loss else "axis"] = _numpy(first)
    case["options"] = {k: _numpy(v) for k, v in options.items()}
    skip = _left_out(call, input, rest, options)
    if skip:
        case["skip"] = skip
    x = input.detach().clone().requires_grad_(loss)  # a fresh leaf: the gradient, whatever requires_grad
    try:
        out = run(x)
        case["value"] = _numpy(out)
        if loss:
            (grad,) = torch.autograd.grad(out.sum(), x)
            case["grad"] = _numpy(grad)
    except Exception as e:  # torch refuses the sample: every backend must
        case["error"] = f"{type(e).__name__}: {e}"
    return case


def _left_out(call, input, rest, options):
    """Why the API can't take a sample: a key of LEFT_OUT, or words for a kind that none names (which
    test_samples_left_out fails on); None when it can."""
    if rest:
        return f"arguments past the {FIRST[call]}: {rest!r}"
    unknown = sorted(set(options) - set(LOSS_OPTIONS.get(call, ("dtype",))))
    if unknown:
        return f"options the API doesn't have: {unknown}"
    if "dtype" in options:
        return "dtype-argument"
    weight = options.get("weight")
    if weight is not None and weight.dtype != input.dtype:
        return "mixed-dtypes"
    return None


def _numpy(value):
    return value.detach().numpy().copy() if hasattr(value, "detach") else value


def _mark_twins(cases):
    """A requires_grad=False sample that repeats a requires_grad=True one (same source, dtype, input and
    options) is a twin: counted, not run twice."""
    seen = set()
    for c in cases:
        key = _fingerprint(c)
        if c["requires_grad"]:
            seen.add(key)
        elif key in seen and "skip" not in c:
            c["skip"] = "requires-grad-twin"


def _fingerprint(c):
    parts = [c["source"], c["dtype"], c["call"], c.get("axis"), c["input"].shape, c["input"].tobytes()]
    if "target" in c:
        parts += [c["target"].dtype.str, c["target"].shape, c["target"].tobytes()]
    for k, v in sorted(c["options"].items()):
        parts += [k, (v.dtype.str, v.shape, v.tobytes()) if isinstance(v, np.ndarray) else repr(v)]
    return tuple(parts)


# --- the parent: every sample through every backend ---------------------------------------------
@pytest.fixture(scope="session")
def torch_samples(tmp_path_factory):
    """Every sample, made once per session in a child process: {(source, dtype): [case, ...]}."""
    require_backend("torch")
    if importlib.util.find_spec("expecttest") is None:  # torch.testing._internal imports it
        reason = "torch's test inputs need expecttest (pip install 'softmax-rosetta[test]' -c constraints.txt)"
        if os.environ.get("SOFTMAX_ROSETTA_REQUIRE", "") == "all":
            pytest.fail(reason + " and SOFTMAX_ROSETTA_REQUIRE=all")
        pytest.skip(reason)
    path = tmp_path_factory.mktemp("torch-samples") / "samples.pickle"
    done = subprocess.run(
        [sys.executable, __file__, str(path)], capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, f"making torch's samples failed:\n{done.stderr[-4000:]}"
    with open(path, "rb") as fh:
        cases = pickle.load(fh)
    by_source = {}
    for case in cases:
        by_source.setdefault((case["source"], case["dtype"]), []).append(case)
    return by_source


def _source_params():
    return [pytest.param(s, marks=pytest.mark.slow) if s in HEAVY else s for s in SOURCES]


@pytest.mark.parametrize("source", _source_params())
def test_torch_samples_in_every_backend(torch_samples, be, dtype, source):
    """Every sample torch tests the op with: the backend gives torch's answer, or refuses where torch does."""
    cases = [c for c in torch_samples[(source, dtype)] if "skip" not in c]
    assert cases, f"no samples of {source} to run"
    problems = [p for case in cases for p in judged.check(be, case)]
    assert not problems, f"{be.name} {dtype}, {len(problems)} of {len(cases)} samples of {source}:\n" + "\n".join(
        problems[:20]
    )


def test_where_torch_raises_every_backend_says_the_same(torch_samples, be, dtype):
    """torch's error inputs (of every source that has them): a BackendError in every backend, in the
    NumPy backend's words."""
    cases = [c for (_, d), cs in torch_samples.items() if d == dtype for c in cs if "skip" not in c and "error" in c]
    assert cases, "torch's error inputs: none found"
    reference = get_backend("numpy", dtype=dtype)
    for case in cases:
        with pytest.raises(BackendError) as wanted:
            judged.answers(reference, case)
        with pytest.raises(BackendError) as got:
            judged.answers(be, case)
        assert str(got.value) == str(wanted.value), f"{case['name']} (torch: {case['error']})"


@pytest.mark.parametrize("source", SOURCES)
def test_samples_left_out(torch_samples, source):
    """Every sample is run, or left out for a kind of reason in LEFT_OUT: the count per kind is the skip message."""
    cases = [c for dtype in DTYPES for c in torch_samples[(source, dtype)]]
    kinds = Counter(c["skip"] for c in cases if "skip" in c)
    unknown = set(kinds) - set(LEFT_OUT)
    assert not unknown, f"samples of {source} the API can't take, for no stated reason: {unknown}"
    if kinds:
        counts = "; ".join(f"{n} {kind} ({LEFT_OUT[kind]})" for kind, n in sorted(kinds.items()))
        pytest.skip(f"{source}: {sum(kinds.values())} of {len(cases)} samples (float32 and float64) left out: {counts}")


# --- the torch backend leaves torch's global precision settings as it found them ------------------
def _precision(torch):
    """Every fp32_precision setting the torch backend touches, as torch's public attributes read them."""
    b = torch.backends
    return {
        "root": b.fp32_precision,
        "cuda.matmul": b.cuda.matmul.fp32_precision,
        "cudnn": b.cudnn.fp32_precision,
        "cudnn.conv": b.cudnn.conv.fp32_precision,
        "cudnn.rnn": b.cudnn.rnn.fp32_precision,
        "mkldnn.matmul": b.mkldnn.matmul.fp32_precision,
    }


@pytest.fixture
def users_precision():
    """A user's own settings: TF32 on the GPU's matmuls, bf16 on oneDNN's (the CPU's); put back after."""
    require_backend("torch")
    import torch

    ops = (torch.backends.cuda.matmul, torch.backends.mkldnn.matmul)
    saved = [op.fp32_precision for op in ops]
    ops[0].fp32_precision, ops[1].fp32_precision = "tf32", "bf16"
    yield torch
    for op, value in zip(ops, saved, strict=True):
        op.fp32_precision = value


def test_torch_backend_leaves_the_users_precision_as_it_found_it(users_precision, seed_spec):
    torch = users_precision
    before = _precision(torch)
    be = get_backend("torch")
    be.softmax(np.zeros((2, 3)))
    be.cross_entropy_grad(np.zeros((2, 3)), [0, 2])
    result = be.train(seed_spec, epochs=3)
    assert _precision(torch) == before
    # what the result records is what was in force during the run: no TF32, no bf16
    assert result.settings["cuda_matmul_fp32_precision"] == "ieee"
    assert result.settings["cudnn_fp32_precision"] == "ieee"
    assert result.settings["mkldnn_matmul_fp32_precision"] == "ieee"


def test_full_float32_inside_the_backends_matmuls(users_precision, monkeypatch):
    """Every nn.Linear the backend runs sees full float32 precision, whatever the user set outside;
    and its numbers are those of torch's defaults, bit for bit (digits: 64 features, where oneDNN's
    bf16 would change them on a CPU that has it)."""
    torch = users_precision
    from softmax_rosetta import load_spec

    spec = load_spec("digits")
    seen = []
    linear = torch.nn.functional.linear

    def spy(*args, **kwargs):
        seen.append((torch.backends.cuda.matmul.fp32_precision, torch.backends.mkldnn.matmul.fp32_precision))
        return linear(*args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "linear", spy)
    users = get_backend("torch").train(spec, epochs=5)
    assert seen and set(seen) == {("ieee", "ieee")}
    ops = (torch.backends.cuda.matmul, torch.backends.mkldnn.matmul)
    for op in ops:
        op.fp32_precision = "none"  # torch's defaults (users_precision puts the user's back)
    defaults = get_backend("torch").train(spec, epochs=5)
    np.testing.assert_array_equal(users.costs, defaults.costs)
    np.testing.assert_array_equal(users.weight, defaults.weight)


def test_torch_backend_works_with_frozen_flags(monkeypatch, seed_spec):
    """torch.testing._internal freezes torch.backends' flags (torch.backends.disable_global_flags): plain
    assignment then raises. The backend sets its precision through torch.backends.flags(), which works
    then too. Frozen here the way disable_global_flags freezes them, and thawed after."""
    require_backend("torch")
    import torch

    monkeypatch.setitem(torch.backends.flags_frozen.__globals__, "__allow_nonbracketed_mutation_flag", False)
    assert torch.backends.flags_frozen()
    with pytest.raises(RuntimeError, match="disable_global_flags"):
        torch.backends.cudnn.fp32_precision = "ieee"  # what the backend did when it was created
    be = get_backend("torch")
    assert be.cross_entropy(np.zeros((2, 3)), [0, 2]) > 0
    assert be.train(seed_spec, epochs=2).settings["cudnn_fp32_precision"] == "ieee"


@pytest.mark.gpu
def test_no_tf32_inside_the_backend_on_a_gpu(users_precision):
    """On a GPU that has TF32 (Ampere and later), the user's setting shows in a float32 matmul outside
    the backend's precision scope, and not inside it."""
    from softmax_rosetta.testing import require_device

    require_device("torch", "cuda")
    torch = users_precision
    from softmax_rosetta.backends.torch_impl.backend import full_float32_precision

    gen = torch.Generator(device="cuda").manual_seed(0)
    a, b = (torch.randn(2048, 2048, device="cuda", generator=gen) for _ in range(2))
    exact = a.double() @ b.double()

    def error():
        return float(((a @ b).double() - exact).abs().max() / exact.abs().max())

    outside = error()
    with full_float32_precision():
        inside = error()
    if torch.cuda.get_device_capability() < (8, 0):
        pytest.skip(f"{torch.cuda.get_device_name()} has no TF32: nothing to turn off")
    assert outside > 1e-4, f"TF32 asked for but not seen outside the scope ({outside:.2g})"
    assert inside < 1e-5, f"TF32 inside the backend's scope ({inside:.2g})"


# --- measuring the tolerance --------------------------------------------------------------------
def measure(path):
    """The worst error, in eps, of every backend on every sample, per dtype and call: for the tolerance."""
    with open(path, "rb") as fh:
        cases = pickle.load(fh)
    worst = {}
    for name in selected_backends():
        if missing_packages(name):
            continue
        for dtype in DTYPES:
            be = get_backend(name, dtype=dtype)
            for case in cases:
                if case["dtype"] != dtype or "skip" in case or "error" in case:
                    continue
                for what, value in judged.answers(be, case):
                    e = judged.error(value, judged.expected(case, what), dtype)
                    key = (dtype, judged.kind(what))
                    if e >= worst.get(key, (-1.0,))[0]:
                        worst[key] = (e, name, case["name"], what)
    for (dtype, what), (e, name, case, full) in sorted(worst.items()):
        print(f"{dtype:8} {what:20} {e:8.3f} eps  ({name}, {case}, {full})")


if __name__ == "__main__" and len(sys.argv) == 2:
    make_samples(sys.argv[1])
elif __name__ == "__main__" and sys.argv[1] == "--measure":
    make_samples(sys.argv[2])
    measure(sys.argv[2])
