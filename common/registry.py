"""Backends by name, found as plugins, each framework imported only when its backend is asked for.

    be = get_backend("jax", device="cpu", dtype="float32")

A backend is a ``Backend`` subclass that a Python distribution declares in the entry-point group
``softmax_rosetta.backends`` (name = "module:Class"); the three built-in ones are declared the same
way in this project's pyproject.toml. Finding them reads the installed distributions' metadata and
the classes' source, never importing a framework: a class's ``packages`` and ``extra`` are read from
its class body as written (literals), so a missing framework is reported before anything imports it.

A user with only NumPy installed gets the NumPy backend; asking for a backend whose framework is
missing raises ``BackendUnavailable`` naming the pip extra to install. A broken plugin (an entry point
that isn't "module:Class", a module or class that isn't there, a class that isn't a ``Backend``, a
name taken by a built-in backend) is reported in one line naming it (``PROBLEMS``, and
``BackendUnavailable`` when it is asked for); the other backends keep working.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import tomllib
from dataclasses import dataclass
from importlib.metadata import EntryPoint, distributions
from pathlib import Path
from typing import Any

from .backend import Backend
from .checks import BackendError, findable

GROUP = "softmax_rosetta.backends"  # the entry-point group a backend plugin declares itself in
BUILT_IN = "softmax-rosetta"  # the distribution whose backends win a clash of names
# The order every listing keeps (installed metadata lists entry points sorted by name): the reference
# first, then the frameworks as the lesson introduces them; then plugins, by distribution and name.
BUILT_IN_ORDER = ("numpy", "torch", "jax", "mlx")


@dataclass(frozen=True)
class BackendInfo:
    name: str
    module: str  # the adapter module, imported on demand
    cls: str  # the Backend subclass in it
    requires: tuple[str, ...]  # top-level packages the framework needs (the class's ``packages``)
    extra: str  # the pip extra that installs them (the class's ``extra``)
    distribution: str = BUILT_IN  # the distribution that declares the entry point

    @property
    def install(self) -> str:
        """What to run to install the framework: the extra of the declaring distribution."""
        extra = f"[{self.extra}]" if self.extra else ""
        return f"pip install '{self.distribution}{extra}'"


# The independent reference: pure NumPy, the same on every machine to within a few float64 ulps.
# Its float64 run of the lesson's loop is what expected costs and the report's deviations measure against.
REFERENCE_BACKEND = "numpy"


class BackendUnavailable(BackendError):
    """The backend is known but its framework is not installed (or fails to import), or its plugin is broken."""


def _declared(module: str, cls: str) -> tuple[tuple[str, ...], str] | str:
    """The ``packages`` and ``extra`` written in class ``cls``'s body in ``module``, read without importing
    it (nor its package: importing a backend's package may import its framework); or why they can't be."""
    literals = _class_literals(module, cls)
    if isinstance(literals, str):
        return literals
    packages, extra = literals.get("packages", ()), literals.get("extra", "")
    return (
        tuple(str(v) for v in packages) if isinstance(packages, tuple | list) else (),
        extra if isinstance(extra, str) else "",
    )


def declared_text(name: str, attribute: str) -> str | None:
    """A string attribute written in backend ``name``'s class body (``title``, ``display_name``), read from its
    source without importing its framework; None where the class doesn't write it as a literal."""
    info = BACKENDS[name]
    literals = _class_literals(info.module, info.cls)
    value = None if isinstance(literals, str) else literals.get(attribute)
    return value if isinstance(value, str) else None


def declared_no_float64(name: str) -> dict[str, str]:
    """Backend ``name``'s ``no_float64`` ({device: why}) as its class body writes it, read without importing
    its framework; {} where it writes none."""
    info = BACKENDS[name]
    literals = _class_literals(info.module, info.cls)
    value = None if isinstance(literals, str) else literals.get("no_float64")
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


DOCS_FILE = "docs.toml"  # beside a backend's adapter module: what the docs show of it (docs/backends.md)


def backend_docs(name: str) -> dict[str, Any]:
    """What backend ``name``'s ``docs.toml`` (beside the module of its ``Backend`` class) says the docs show of
    it: its code for each concept, its notes, its notebook's dialect, its plot style, the lesson's one-line
    formulas in its framework. {} where it has no such file. Read without importing its framework, so the
    docs are generated and checked where a framework is missing; ``BackendError`` (one line naming the file)
    where the file isn't TOML."""
    source = _module_source(_info(name).module)
    if isinstance(source, str):
        return {}
    path = source.parent / DOCS_FILE
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BackendError(f"backend {name!r}: {path} is not valid TOML: {exc}") from None


def _module_source(module: str) -> Path | str:
    """The file of ``module``, found without importing it (nor its package, which may import its
    framework); or why it can't be found."""
    parent, _, leaf = module.rpartition(".")
    try:
        if parent:
            spec = importlib.util.find_spec(parent)  # imports parent's parents, not parent itself
            places = [] if spec is None else list(spec.submodule_search_locations or [])
            files = [f for p in places for f in (Path(p) / f"{leaf}.py", Path(p) / leaf / "__init__.py")]
        else:
            spec = importlib.util.find_spec(module)
            files = [Path(spec.origin)] if spec is not None and spec.origin else []
    except Exception as exc:  # a parent package that fails as it loads: this plugin alone is broken
        return f"module {module!r} can't be found: {type(exc).__name__}: {exc}"
    source = next((f for f in files if f.is_file()), None)
    return f"module {module!r} is not installed" if source is None else source


def _class_literals(module: str, cls: str) -> dict[str, object] | str:
    """{name: value} of the literal assignments in class ``cls``'s body in ``module``, read without importing
    it; or why they can't be read."""
    source = _module_source(module)
    if isinstance(source, str):
        return source
    try:
        tree = ast.parse(source.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError, ValueError) as exc:
        return f"{source} can't be read: {type(exc).__name__}: {exc}"
    literals: dict[str, object] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == cls:
            for stmt in node.body:
                if isinstance(stmt, ast.Assign | ast.AnnAssign) and stmt.value is not None:
                    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                    try:
                        value = ast.literal_eval(stmt.value)
                    except ValueError:
                        continue
                    literals.update({t.id: value for t in targets if isinstance(t, ast.Name)})
    return literals


def _entry_points() -> list[EntryPoint]:
    """Every distribution's entry points in the group, each (distribution, name) once, the first found.

    Not ``entry_points(group=...)``, which keeps one distribution of each name: a source checkout's
    stale ``softmax_rosetta.egg-info`` in the working directory (setuptools' editable build leaves one)
    would hide the installed metadata's entry points.
    """
    seen: dict[tuple[str, str], EntryPoint] = {}
    for dist in distributions():
        for ep in dist.entry_points.select(group=GROUP):
            seen.setdefault((dist.name, ep.name), ep)
    return list(seen.values())


def discover() -> tuple[dict[str, BackendInfo], list[str]]:
    """Every backend the installed distributions declare, built-in ones first, and one line per broken plugin."""
    found: dict[str, BackendInfo] = {}
    problems: list[str] = []

    def order(ep: EntryPoint) -> tuple[int, str, str]:
        dist = ep.dist.name if ep.dist is not None else ""
        if dist == BUILT_IN and ep.name in BUILT_IN_ORDER:
            return (BUILT_IN_ORDER.index(ep.name), "", "")
        return (len(BUILT_IN_ORDER), dist, ep.name)

    points = sorted(_entry_points(), key=order)
    for ep in points:
        dist = ep.dist.name if ep.dist is not None else "?"
        where = f"backend plugin {ep.name!r} (from {dist}, {GROUP})"
        module, colon, cls = ep.value.partition(":")
        module, cls = module.strip(), cls.strip()
        if not colon or not module or not cls or " " in cls:
            problems.append(f"{where}: {ep.value!r} is not 'module:Class'")
            continue
        if ep.name in found:
            problems.append(f"{where}: the name is taken by {found[ep.name].distribution}'s backend; ignored")
            continue
        declared = _declared(module, cls)
        if isinstance(declared, str):
            problems.append(f"{where}: {declared}")
            continue
        found[ep.name] = BackendInfo(ep.name, module, cls, *declared, distribution=dist)
    return found, problems


BACKENDS, PROBLEMS = discover()


def missing_packages(name: str) -> list[str]:
    """The packages a backend needs that aren't installed, found without importing them."""
    return [pkg for pkg in _info(name).requires if not findable(pkg)]


def is_installed(name: str) -> bool:
    return not missing_packages(name)


def available_backends() -> list[str]:
    """Names of the backends whose frameworks are installed, in a fixed order (the built-in ones first)."""
    return [name for name in BACKENDS if is_installed(name)]


def backend_class(name: str) -> type[Backend]:
    """Import a backend's adapter (and with it its framework) and return its class."""
    info = _info(name)
    missing = missing_packages(name)
    if missing:
        raise BackendUnavailable(f"backend {name!r} needs {', '.join(missing)}, which is not installed: {info.install}")
    try:
        module = importlib.import_module(info.module)
    except ImportError as exc:
        raise BackendUnavailable(f"backend {name!r}: its framework failed to import: {exc}") from exc
    except Exception as exc:  # a plugin's module that fails as it loads: that plugin alone is broken
        raise BackendUnavailable(
            f"backend plugin {name!r} (from {info.distribution}): {info.module} failed to load: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    cls = getattr(module, info.cls, None)
    if not (isinstance(cls, type) and issubclass(cls, Backend)):
        what = "has no" if cls is None else "has a non-Backend"
        raise BackendUnavailable(
            f"backend plugin {name!r} (from {info.distribution}): {info.module} {what} {info.cls!r}: "
            "an entry point must name a softmax_rosetta.backend.Backend subclass"
        )
    return cls


def get_backend(name: str, device: str = "cpu", dtype: str = "float32") -> Backend:
    """The backend called ``name`` ("numpy", "torch", "jax", or a plugin's) on ``device`` in ``dtype``."""
    return backend_class(name)(device=device, dtype=dtype)


def _info(name: str) -> BackendInfo:
    if name not in BACKENDS:
        raise BackendError(f"backend: unknown backend {name!r}; known: {', '.join(BACKENDS)}")
    return BACKENDS[name]
