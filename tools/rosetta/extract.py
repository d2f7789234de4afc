"""A reference's code as it stands in its file, found with ``ast``: no backend (or framework) is imported."""

from __future__ import annotations

import ast
import importlib.util
import textwrap
from dataclasses import dataclass
from pathlib import Path

from softmax_rosetta.registry import BACKENDS, DOCS_FILE

from .base import RosettaError
from .concepts import Ref

ROOT = Path(__file__).resolve().parents[2]  # the repository: common/, backends/ and tools/ are in it
# Without a repository URL, links go from docs/ to the backends: the docs are meant to live in the
# repository's docs/, where GitHub (and GitLab) open ../backends/x.py#L12 on line 12.
LINK_PREFIX = "../"


@dataclass(frozen=True)
class Block:
    """One piece of code as it stands in its file."""

    backend: str
    path: str  # relative to the repository: backends/numpy_impl/functional.py
    line: int  # first line shown, 1-based
    name: str  # what it is: softmax, SoftmaxClassifier.__call__, train
    code: str  # dedented source
    part: bool = False  # only some lines of ``name``
    url: str = ""  # the repository's files at one version (repo_url()), or "" for links relative to docs/

    @property
    def end_line(self) -> int:
        return self.line + self.code.count("\n")

    @property
    def link(self) -> str:
        """Its first line in the repository: ``{url}/{path}#L{line}``, or ``../{path}#L{line}`` from docs/."""
        return f"{self.url or LINK_PREFIX.rstrip('/')}/{self.path}#L{self.line}"


def repo_url(url: str) -> str:
    """The base of the links into a repository, checked: the URL under which the repository's files
    are, such as https://github.com/OWNER/REPO/blob/main (or /blob/COMMIT for links that never move);
    a block's link is then ``{url}/{path}#L{line}``. One trailing slash is dropped."""
    base = url.strip().removesuffix("/")
    scheme, sep, rest = base.partition("://")
    if scheme not in ("http", "https") or not sep or rest[:1] in ("", "/") or any(c in base for c in ' #?"<>'):
        raise RosettaError(
            f"rosetta: repository URL (--repo-url): expected the URL of the repository's files, such as "
            f"https://github.com/OWNER/REPO/blob/main; got {url!r}"
        )
    return base


def package_dir(backend: str) -> Path:
    """backends/<name>_impl, found without importing it (or its framework)."""
    package = BACKENDS[backend].module.rpartition(".")[0]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise RosettaError(f"rosetta: backend {backend!r}: package {package} not found")
    return Path(list(spec.submodule_search_locations)[0])


def _docs_file(package: Path) -> str:
    """The backend's docs.toml, as an error names it: relative to the repository where it is in it."""
    path = package / DOCS_FILE
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return path.as_posix()


def extract(backend: str, ref: Ref | str, where: str = "") -> Block:
    """The source of one reference, by ``ast`` on the file (no import: works without the framework)."""
    ref = Ref(ref) if isinstance(ref, str) else ref
    if not ref.module or not ref.name:
        raise RosettaError(f"rosetta: {where}{backend}: bad reference {ref.target!r} (expected 'module:name')")
    path = package_dir(backend) / f"{ref.module}.py"
    try:
        rel = path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        rel = path.as_posix()
    named_in = _docs_file(path.parent)
    if not path.is_file():
        raise RosettaError(f"rosetta: {where}{backend}: {rel} does not exist (named by {ref.target!r} in {named_in})")
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    node = _find(ast.parse(source, filename=str(path)).body, ref.name.split("."))
    if node is None:
        raise RosettaError(
            f"rosetta: {where}{backend}: {rel} has no {ref.name!r} (named by {ref.target!r} in {named_in})"
        )
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    last = _end(node)
    if ref.lines is None:
        # comment lines right above the definition belong to it (section rules "# ---" don't)
        while first > 1 and _is_comment(lines[first - 2]):
            first -= 1
    else:
        start_text, end_text = ref.lines
        start = next((i for i in range(first, last + 1) if start_text in lines[i - 1]), None)
        end = None if start is None else next((i for i in range(start, last + 1) if end_text in lines[i - 1]), None)
        if start is None or end is None:
            missing = start_text if start is None else end_text
            raise RosettaError(
                f"rosetta: {where}{backend}: {rel}: {ref.name} has no line containing {missing!r} "
                f"(the lines named by {ref.target!r} in {named_in})"
            )
        # a statement that starts on the last line is shown whole (a call over several lines)
        end = max([end, *(_end(n) for n in ast.walk(node) if isinstance(n, ast.stmt) and n.lineno == end)])
        first, last = start, end
    code = textwrap.dedent("\n".join(lines[first - 1 : last]))
    return Block(backend, rel, first, ref.name, code, part=ref.lines is not None)


def _is_comment(line: str) -> bool:
    text = line.strip()
    return text.startswith("#") and not text.startswith("# ---")


def _end(node: ast.stmt) -> int:
    return node.end_lineno if node.end_lineno is not None else node.lineno


def _find(body: list[ast.stmt], parts: list[str]) -> ast.stmt | None:
    """The definition (function, class, method) or assignment named by parts, in body."""
    head, rest = parts[0], parts[1:]
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == head:
            if not rest:
                return node
            return _find(node.body, rest) if isinstance(node, ast.ClassDef) else None
        if not rest and any(isinstance(t, ast.Name) and t.id == head for t in _targets(node)):
            return node
    return None


def _targets(node: ast.stmt) -> list[ast.expr]:
    if isinstance(node, ast.Assign):
        return node.targets
    if isinstance(node, ast.AnnAssign):
        return [node.target]
    return []
