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
