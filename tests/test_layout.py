"""The house's layout: the library apart from its tools, and a package that imports lazily."""

import ast
import subprocess
import sys
from pathlib import Path

import softmax_rosetta as sr

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = [*sorted((ROOT / "common").glob("*.py")), *sorted((ROOT / "backends").rglob("*.py"))]


def _imports(path):
    """Every module a file imports, absolute, as its package would resolve it."""
    package = "softmax_rosetta" if path.parent.name == "common" else None
    if package is None:  # backends/<name>_impl/x.py or backends/__init__.py
        parts = path.relative_to(ROOT).parent.parts
        package = ".".join(("softmax_rosetta", *parts))
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                yield ".".join([*base, node.module] if node.module else base)
            else:
                yield node.module or ""


def test_the_library_never_imports_the_tools():
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in LIBRARY
        if path.name != "__main__.py"  # `python -m softmax_rosetta`: the command's entry point, not the library
        for name in _imports(path)
        if name == "softmax_rosetta.tools" or name.startswith("softmax_rosetta.tools.")
    ]
    assert not offenders, offenders
    assert len(LIBRARY) > 20  # the scan saw the library


def test_importing_the_package_or_the_command_loads_no_numpy():
    """The command sets up its Ctrl-C and SIGTERM handling before NumPy or a framework loads."""
    code = (
        "import sys, softmax_rosetta, softmax_rosetta.tools.cli\n"
        "print(sorted(m for m in ('numpy', 'torch', 'jax') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_every_public_name_resolves():
    assert sorted(sr.__all__) == sorted(sr._EXPORTS)
    for name in sr.__all__:
        assert getattr(sr, name) is not None
    assert sr.get_backend("numpy").train(sr.load_spec("seed"), epochs=1).costs.shape == (2,)


def test_no_module_grows_past_one_job():
    """About 400 lines at most: past that a module usually does more than one job."""
    long = [
        f"{p.relative_to(ROOT)}: {n} lines"
        for p in [*LIBRARY, *sorted((ROOT / "tools").rglob("*.py"))]
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 450
    ]
    assert not long, long


FRAMEWORKS = ("torch", "jax", "jaxlib", "flax", "optax", "numba", "mlx")
OUTSIDE_BACKENDS = [
    p
    for p in [*sorted((ROOT / "common").glob("*.py")), *sorted((ROOT / "tools").rglob("*.py"))]
    if p.name != "registry.py" or p.parent.name != "common"
]


def _module_imports(path):
    """Every module a file imports by absolute name, at any depth (an import inside a function counts)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            yield node.module


def test_nothing_outside_the_backends_imports_a_framework():
    """A framework is a backend's business: tools and the library reach it through the Backend class
    and the backends' public functions (issue 22)."""
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in OUTSIDE_BACKENDS
        for name in _module_imports(path)
        if name.split(".")[0] in FRAMEWORKS
    ]
    assert not offenders, offenders
    assert len(OUTSIDE_BACKENDS) > 100  # the scan saw tools/ and common/


BACKEND_NAMES = {"numpy", "torch", "jax", "mlx"}
# Tables still keyed by the built-in backends' names, each with why it stays. What a tool needs to know
# of a backend is its Backend class's (display_name, title, packages, extra, fused_variant,
# no_data_parallel, no_float64), its modules' public functions, or its docs.toml (what the docs show of
# it: its code per concept, its notes, its notebook's dialect, its plot style, the lesson's formulas).
KEYED_BY_BACKEND = {
    "tools/rosetta/why.py": "the pairs whose divergence the page explains (issue 21): a measured record the docs "
    "chose, not knowledge of a backend",
    "tools/diverge/cause_run.py": "the machine line's default backends, in an example for a docstring's run",
}


def _keyed_by_backend(path):
    """Dict literals with two or more backend names as keys, and tuples or lists of backend names only."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Dict):
            keys = [k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)]
        elif isinstance(node, ast.Tuple | ast.List):
            keys = [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
            if len(keys) != len(node.elts):
                continue
        else:
            continue
        if len(BACKEND_NAMES.intersection(keys)) >= 2:
            yield node.lineno


def test_no_table_is_keyed_by_a_backends_name():
    """A table by backend name is knowledge of a backend kept outside it: a fourth backend would need
    an edit there. The registry alone knows the built-in names (their order, the reference)."""
    found = {
        str(path.relative_to(ROOT)): lines for path in OUTSIDE_BACKENDS if (lines := list(_keyed_by_backend(path)))
    }
    unexplained = {path: lines for path, lines in found.items() if path not in KEYED_BY_BACKEND}
    assert not unexplained, f"tables keyed by backend name (file: lines): {unexplained}"
    assert set(KEYED_BY_BACKEND) <= set(found), "a file listed in KEYED_BY_BACKEND no longer needs to be"
