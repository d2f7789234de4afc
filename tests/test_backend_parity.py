"""The backends line up: the same public functions and classes, with the same parameters, in every
backend's modules, but for the differences written below, each with its reason.

Read from the source (no framework imported), so it runs wherever the tests do. A difference not
written here fails; so does one written here that is no longer there (fix the list with the code).
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "backends"
BACKENDS = ("numpy_impl", "torch_impl", "jax_impl", "mlx_impl")
MODULES = ("functional", "model", "train", "fast", "distributed")
# distributed.py: only where the framework trains data parallel (Backend.data_parallel); not MLX
# (MlxBackend.no_data_parallel says why)
DATA_PARALLEL = ("torch_impl", "jax_impl")

# (module, name): the backends that have it, where not all do, and why.
ONLY_IN = {
    ("train", "SGD"): (("numpy_impl",), "torch.optim.SGD written out: NumPy has no optimizer to use"),
    ("train", "sgd"): (("jax_impl",), "torch.optim.SGD's rule as an optax transformation (optax.sgd differs)"),
    ("train", "dampened_trace"): (("jax_impl",), "sgd's momentum buffer with torch's dampening, in optax's terms"),
    ("train", "DampenedTraceState"): (("jax_impl",), "dampened_trace's state, as optax transformations keep one"),
    ("train", "DampenedSGD"): (
        ("mlx_impl",),
        "mlx.optimizers.SGD starts its momentum buffer at 0, so with dampening its first step differs from torch's",
    ),
    ("fast", "aligned"): (
        ("numpy_impl",),
        "x C-contiguous on a 64-byte boundary, as torch and XLA align theirs: NumPy's compiled loop reads x through it",
    ),
    ("fast", "step"): (("torch_impl",), "one epoch in place on tensors: the function torch.compile compiles"),
    ("fast", "compile_step"): (("torch_impl",), "torch.compile on step, once per shape and dtype"),
    ("fast", "run"): (("jax_impl",), "steps epochs of full-batch SGD as one compiled program (JAX's fast loop)"),
    ("fast", "scanned_costs"): (
        ("jax_impl",),
        "a scan can't stop early: its costs cut after the first non-finite one, then logged",
    ),
    ("fast", "train_compiled"): (
        ("numpy_impl", "torch_impl", "mlx_impl"),
        "the variant is named for what it does in each framework: compiled (numba, torch.compile, mx.compile) there, "
        "fused in JAX (every epoch in one XLA program); tools find it as Backend.fused_variant",
    ),
    ("fast", "train_fused"): (("jax_impl",), "see train_compiled"),
    ("distributed", "make_mesh"): (("jax_impl",), "JAX shards over a Mesh of devices; torch has process groups"),
    ("distributed", "compiled_step"): (
        ("jax_impl",),
        "the step under jax.jit with its shardings, once per model structure and mesh",
    ),
    ("distributed", "initialize"): (("jax_impl",), "jax.distributed's start for multi-process runs"),
    ("distributed", "train_rank"): (("torch_impl",), "the loop each torch process runs, started by torch's launcher"),
}
# (module, name): why its parameters differ between the backends that have it.
SIGNATURES = {
    ("fast", "train_fast"): "NumPy's takes block_rows: the rows its blocked matmul computes at once",
    ("fast", "train_compiled"): "NumPy's takes threads: numba's thread count (torch's comes from torch)",
    ("distributed", "loss_fn"): (
        "each framework's share of a batch: torch's rank counts its batch_rows, JAX masks padded rows "
        "(real) over the batch's rows, as its sharding needs equal shards"
    ),
}


def _public(path):
    """{name: its parameters (positional, then *keyword-only)} of a module's public functions and classes."""
    out = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if node.name.startswith("_") if isinstance(node, ast.FunctionDef | ast.ClassDef) else True:
            continue
        if isinstance(node, ast.ClassDef):
            out[node.name] = ("class",)
        else:
            a = node.args
            out[node.name] = (
                *(p.arg for p in (*a.posonlyargs, *a.args)),
                *(f"*{p.arg}" for p in a.kwonlyargs),
                *((f"**{a.kwarg.arg}",) if a.kwarg else ()),
            )
    return out


def _tables():
    for module in MODULES:
        owners = DATA_PARALLEL if module == "distributed" else BACKENDS
        yield module, owners, {b: _public(ROOT / b / f"{module}.py") for b in owners}


def test_every_backend_has_the_modules():
    for module, owners, _ in _tables():
        assert all((ROOT / b / f"{module}.py").is_file() for b in owners), module
    assert not (ROOT / "numpy_impl" / "distributed.py").exists()  # NumPy isn't data parallel


def test_the_same_public_names_in_every_backend_but_the_written_differences():
    found = {}
    for module, owners, tables in _tables():
        for name in sorted(set().union(*tables.values())):
            having = tuple(b for b in owners if name in tables[b])
            if having != owners:
                found[(module, name)] = having
    assert found == {key: backends for key, (backends, _) in ONLY_IN.items()}


def test_the_same_parameters_but_the_written_differences():
    differ = set()
    for module, owners, tables in _tables():
        for name in sorted(set().union(*tables.values())):
            signatures = {tables[b][name] for b in owners if name in tables[b]}
            if len(signatures) > 1:
                differ.add((module, name))
    assert differ == set(SIGNATURES)


def test_the_lesson_pieces_are_everywhere():
    """What the lesson names in every framework (backends/__init__.py lists them)."""
    expected = {
        "functional": {"softmax", "log_softmax", "one_hot", "cross_entropy", "cross_entropy_onehot", "nll_loss"},
        "model": {"SoftmaxClassifier", "init_model", "weight_and_bias", "stored_weight"},
        "train": {"make_optimizer", "loss_fn", "train_step", "trace_step", "train", "sgd_steps"},
        "fast": {"train_fast"},
    }
    for module, names in expected.items():
        for b in BACKENDS:
            assert names <= set(_public(ROOT / b / f"{module}.py")), (module, b)
