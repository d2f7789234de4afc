"""notebooks/numpy.ipynb, torch.ipynb, jax.ipynb: the lesson's steps run in one framework each; and
notebooks/ko/*.ipynb, the same in Korean.

    softmax-rosetta notebooks              # write them, executed, with their outputs stored
    softmax-rosetta notebooks --check      # exit 1 if the committed ones are stale

Each notebook is made from the lesson's steps (lesson_steps.py): a markdown cell with the step's text and
its concepts' code in that backend (the concept table's blocks, linked to their files and lines),
then a code cell that imports the step's functions from ``softmax_rosetta.backends.<name>_impl``
and runs them on the seed spec (``cells.py``), ending with the lesson's loop and its printout. They
are executed with nbclient in the ``python3`` kernel (ipykernel in the running Python's
environment), so a notebook viewer shows the outputs without running anything. The Korean notebooks
(the text from lesson_steps.py, lesson_text.py and notebook_text.py) have the English ones' code
cells, cell for cell, and take their outputs (``with_outputs``): one run, two languages.

Stale (``compare_notebook``): a cell's source differs (markdown and code alike, exactly), or an
output's text differs other than in its numbers, or a number differs from a fresh run's by more
than the spec's tolerance for that cell (``cells.py``: "exact", "output" or "cost") plus one unit
in the last printed digit of each. Execution counts and metadata are not compared; the written
notebooks carry no timings, so regenerating them without a change to the code changes nothing
but the last digits a machine prints differently.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from softmax_rosetta.registry import BACKENDS, missing_packages
from softmax_rosetta.spec import Spec

from ..files import atomic_write, writable_folder
from . import notes
from .base import DTYPE, ORDER, TITLES, RosettaError
from .cells import CELLS, code_cell_source, dialect
from .colab import badge, github, install_source, repository
from .lesson import (
    LANGUAGES,
    SOURCE,
    SOURCE_KO,
    STEPS,
    Step,
    check_steps,
    paragraphs,
    prose,
    step_blocks,
    step_sections,
)
from .lesson_markdown import block_where, example_table
from .lesson_text import concept_note, concept_title
from .lesson_text import text as page_text
from .notebook_text import notebook_text
from .numbers import NUMBER, number
from .run import Rosetta, build
from .stale import same_number

NEEDS = ("nbformat", "nbclient", "ipykernel")
KERNEL = "python3"
INSTALL = "install"  # the id of each notebook's first code cell (colab.py)
TIMEOUT = 600  # seconds for one cell
# What every written notebook's metadata holds (the Python version nbclient records is left out).
KERNELSPEC = {"name": KERNEL, "display_name": "Python 3 (ipykernel)", "language": "python"}
LANGUAGE_INFO = {
    "name": "python",
    "codemirror_mode": {"name": "ipython", "version": 3},
    "file_extension": ".py",
    "mimetype": "text/x-python",
    "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3",
}


def notebook_name(backend: str, lang: str = "en") -> str:
    """The notebook's file, relative to notebooks/: numpy.ipynb, ko/numpy.ipynb."""
    return f"{backend}.ipynb" if lang == "en" else f"{lang}/{backend}.ipynb"


def require_packages(backends: list[str]) -> None:
    """nbformat, nbclient, ipykernel and each backend's framework must be installed."""
    missing = [p for p in NEEDS if not _installed(p)]
    if missing:
        raise RosettaError(
            f"rosetta: the notebooks need {', '.join(missing)}, which is not installed: "
            "pip install 'softmax-rosetta[notebooks]'"
        )
    for b in backends:
        lacking = missing_packages(b)
        if lacking:
            raise RosettaError(
                f"rosetta: the {b} notebook needs {', '.join(lacking)}: "
                f"pip install 'softmax-rosetta[{BACKENDS[b].extra}]'"
            )


def _installed(package: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(package) is not None


# --- making one --------------------------------------------------------------------------------


def make_notebook(backend: str, rosetta: Rosetta, lang: str = "en", repo: str | None = None) -> Any:
    """The backend's notebook in ``lang``, not executed (rosetta: its code; numbers are not needed).
    repo: the repository's GitHub URL (colab.py), for the "Open in Colab" link and the install cell."""
    import nbformat

    check_steps()
    spec = rosetta.spec
    v4 = nbformat.v4
    cells = [
        v4.new_markdown_cell(_title(backend, spec, lang, repo), id="lesson"),
        v4.new_code_cell(install_source(backend, repo), id=INSTALL),
    ]
    for i, step in enumerate(STEPS, 1):
        if step.key not in CELLS:
            raise RosettaError(f"rosetta: lesson step {step.key!r} has no notebook cell in tools/rosetta/cells.py")
        cells.append(v4.new_markdown_cell(_step_markdown(backend, rosetta, i, step, lang), id=f"{step.key}-text"))
        source = code_cell_source(step.key, backend, spec, step.formula)
        cells.append(v4.new_code_cell(source, id=f"{step.key}-code"))
        if step.printout:
            cells.append(v4.new_markdown_cell(_printout_markdown(spec, lang), id=f"{step.key}-printout"))
    nb = v4.new_notebook(cells=cells)
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": dict(LANGUAGE_INFO)}
    return nb


def repository_url(repo: str | None) -> str | None:
    """The repository's URL for the notebooks: ``repo``, else pyproject.toml's; checked (colab.github)."""
    url = repo if repo is not None else repository()
    if url is not None:
        github(url)
    return url


def _title(backend: str, spec: Spec, lang: str, repo: str | None = None) -> str:
    title = TITLES[backend]
    extras = ",".join(filter(None, (BACKENDS[backend].extra, "notebooks")))
    others = ", ".join(f"[{notebook_name(b)}]({notebook_name(b)})" for b in ORDER if b != backend)
    source = SOURCE if lang == "en" else SOURCE_KO
    return "\n\n".join(
        [
            *filter(None, [badge(repo, notebook_name(backend, lang))]),
            notebook_text("title", lang, title=title),
            notebook_text("intro", lang, title=title, package=dialect(backend)["impl"], spec=spec.name, source=source),
            notebook_text("links", lang, others=others, name=notebook_name(backend)),
            notebook_text("generated", lang, extras=extras),
        ]
    )


def _step_markdown(backend: str, rosetta: Rosetta, i: int, step: Step, lang: str = "en") -> str:
    parts = [f"## {i}. {prose(step, lang).title}", *paragraphs(step, rosetta.spec, lang)]
    if "ce-example" in step.tables:  # (the spec's data is printed by the first code cell)
        parts.append("\n".join(example_table(lang)).strip())
    blocks = step_blocks(rosetta, step)[backend]
    if step.formula is not None:
        parts.append(notebook_text("one_line", lang, title=TITLES[backend]))
        parts.append(f"```python\n{step.formula.code[backend]}\n```")
    if blocks:
        key = "in" if step.formula is None else "function"
        parts.append(notebook_text(key, lang, title=TITLES[backend]))
    for block in blocks:
        link = block.link if lang == "en" or "://" in block.link else "../" + block.link  # notebooks/ko/
        parts.append(f"[`{block.path}` {block_where(block, lang)}]({link})\n\n```python\n{block.code}\n```")
    for s in step_sections(rosetta, step):
        title, note = (
            concept_title(s.concept.key, s.concept.title, lang),
            concept_note(s.concept.key, s.concept.note, lang),
        )
        head = page_text("differs_titled", lang, title=title, note="").rstrip()
        parts.append("\n".join(notes.markdown(head, note, s.concept, lang, [backend])).strip())
    return "\n\n".join(parts)


def _printout_markdown(spec: Spec, lang: str = "en") -> str:
    tol = spec.tolerance(DTYPE)
    lines = [
        notebook_text("printout", lang, tol=f"{tol.expected_cost:g}", dtype=DTYPE),
        "",
        "```",
        *(f"epoch: {e} cost: {c}" for e, c in zip(spec.expected_epochs, spec.expected_costs, strict=True)),
        "```",
    ]
    return "\n".join(lines)


# --- running one -------------------------------------------------------------------------------


def execute(nb: Any, cwd: str | os.PathLike[str]) -> Any:
    """Run every cell in a fresh ``python3`` kernel, on the CPU; the outputs stay in nb, without timings."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    client = NotebookClient(
        nb,
        kernel_name=KERNEL,
        timeout=TIMEOUT,
        record_timing=False,
        resources={"metadata": {"path": os.fspath(cwd)}},
        # The kernel listens on 127.0.0.1 for this run only; its warning about that is noise here.
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
    )
    try:
        # On the CPU, as the docs' numbers are: JAX would otherwise take a GPU where it finds one.
        client.execute(env={**os.environ, "JAX_PLATFORMS": "cpu"})
    except CellExecutionError as exc:
        raise RosettaError(f"rosetta: a notebook cell failed:\n{exc}") from exc
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.metadata = {}
            cell.outputs = _merged_streams(cell.outputs)
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": dict(LANGUAGE_INFO)}
    return nb


def _merged_streams(outputs: list[Any]) -> list[Any]:
    """Consecutive outputs of one stream as one (the kernel flushes them in pieces, by timing)."""
    merged: list[Any] = []
    for out in outputs:
        if out.output_type == "stream" and merged and merged[-1].output_type == "stream":
            if merged[-1].name == out.name:
                merged[-1].text += out.text
                continue
        merged.append(out)
    return merged


def text(nb: Any) -> str:
    import nbformat

    return nbformat.writes(nb).rstrip("\n") + "\n"


def generate(
    backends: list[str] | None = None,
    rosetta: Rosetta | None = None,
    cwd: str | os.PathLike[str] = ".",
    repo: str | None = None,
) -> dict[str, str]:
    """Each backend's notebook in every language, executed in the folder cwd, as the text of its file (by
    file name: numpy.ipynb, ko/numpy.ipynb).

    rosetta: the lesson's code (``build(numbers=False)``, made here when None). The English notebook is
    executed; the others have the same code cells, and take its outputs (``with_outputs``). repo: the
    repository's URL (colab.py; by default pyproject.toml's ``[project.urls] Repository``).
    """
    backends = list(ORDER) if backends is None else backends
    require_packages(backends)
    repo = repository_url(repo)
    rosetta = build(numbers=False) if rosetta is None else rosetta
    out = {}
    for b in backends:
        executed = execute(make_notebook(b, rosetta, repo=repo), cwd)
        for lang in LANGUAGES:
            made = make_notebook(b, rosetta, lang, repo)
            nb = executed if lang == "en" else with_outputs(made, executed)
            out[notebook_name(b, lang)] = text(nb)
    return out


def with_outputs(nb: Any, executed: Any) -> Any:
    """nb with the outputs of ``executed``, whose code cells must be nb's, cell for cell."""
    ran = {c.id: c for c in executed.cells if c.cell_type == "code"}
    for c in nb.cells:
        if c.cell_type != "code":
            continue
        if c.id not in ran or ran[c.id].source != c.source:
            raise RosettaError(f"rosetta: notebook cell {c.id!r} is not the same code in every language")
        c.outputs, c.metadata, c.execution_count = ran[c.id].outputs, ran[c.id].metadata, ran[c.id].execution_count
    nb.metadata = executed.metadata
    return nb


def write(
    out_dir: str | os.PathLike[str] = "notebooks", backends: list[str] | None = None, repo: str | None = None
) -> list[Path]:
    """Generate and execute the notebooks, written into out_dir (checked first: ``PathError`` names
    --out); returns their paths."""
    require_packages(list(ORDER) if backends is None else backends)
    out = Path(writable_folder(out_dir, "--out"))
    paths = []
    for name, content in generate(backends, cwd=out, repo=repo).items():
        (out / name).parent.mkdir(exist_ok=True)  # ko/
        atomic_write(out / name, content)
        paths.append(out / name)
    return paths


def check(
    out_dir: str | os.PathLike[str] = "notebooks", backends: list[str] | None = None, repo: str | None = None
) -> list[str]:
    """Why each committed notebook in out_dir is stale ([] when all are current): they are made and
    executed afresh, and compared (``compare_notebook``)."""
    rosetta = build(numbers=False)
    fresh = generate(backends, rosetta, cwd=out_dir if Path(out_dir).is_dir() else ".", repo=repo)
    problems = []
    for name, content in fresh.items():
        path = Path(out_dir) / name
        if not path.is_file():
            problems.append(f"{path} is missing")
            continue
        why = compare_notebook(str(path), path.read_text(encoding="utf-8"), content, rosetta.spec)
        if why:
            problems.append(why)
    return problems


# --- comparing ---------------------------------------------------------------------------------


def compare_notebook(name: str, committed: str, fresh: str, spec: Spec) -> str | None:
    """Why the committed notebook is stale against the fresh one, or None when it is current."""
    try:
        a, b = json.loads(committed)["cells"], json.loads(fresh)["cells"]
    except (ValueError, KeyError, TypeError):
        return f"{name} is stale: it is not a notebook this command writes"
    ids_a, ids_b = [c.get("id") for c in a], [c.get("id") for c in b]
    if ids_a != ids_b:
        return f"{name} is stale: its cells are not the ones the lesson gives now ({ids_a} vs {ids_b})"
    tol = spec.tolerance(DTYPE)
    for x, y in zip(a, b, strict=True):
        where = f"{name} is stale: cell {y['id']!r}"
        if x["cell_type"] != y["cell_type"] or _joined(x["source"]) != _joined(y["source"]):
            return f"{where} differs from the lesson now{_first_difference(_joined(x['source']), _joined(y['source']))}"
        if y["cell_type"] != "code":
            continue
        kind = "exact" if y["id"] == INSTALL else CELLS[y["id"].removesuffix("-code")][1]
        allowed = 0.0 if kind == "exact" else float(getattr(tol, kind))
        why = _compare_output(_output_text(x), _output_text(y), allowed)
        if why:
            return f"{where}: its output {why}"
    return None


def _joined(source: str | list[str]) -> str:
    return source if isinstance(source, str) else "".join(source)


def _output_text(cell: dict[str, Any]) -> str:
    """The cell's outputs as text: streams, results' text/plain, errors."""
    parts = []
    for out in cell.get("outputs", []):
        kind = out.get("output_type")
        if kind == "stream":
            parts.append(f"[{out.get('name')}]\n{_joined(out.get('text', ''))}")
        elif kind in ("execute_result", "display_data"):
            parts.append(f"[{kind}]\n{_joined(out.get('data', {}).get('text/plain', ''))}")
        elif kind == "error":
            parts.append(f"[error]\n{out.get('ename')}: {out.get('evalue')}")
    return "\n".join(parts)


def _compare_output(committed: str, fresh: str, tolerance: float) -> str | None:
    """Text equal but for its numbers and whitespace; each number within tolerance + a unit of the last digit."""
    ta, na = _split(committed)
    tb, nb = _split(fresh)
    if ta != tb or len(na) != len(nb):
        return f"differs from a fresh run's{_first_difference(committed, fresh)}"
    for x, y in zip(na, nb, strict=True):
        if not same_number(x, y, tolerance):
            allowed = number(tolerance, "output")
            return f"shows {x} where a fresh run gives {y} (allowed: {allowed} + one unit of the last digit)"
    return None


def _split(text: str) -> tuple[str, list[str]]:
    numbers = NUMBER.findall(text)
    return re.sub(r"\s+", " ", NUMBER.sub("#", text)).strip(), numbers


def _first_difference(a: str, b: str) -> str:
    la, lb = a.splitlines(), b.splitlines()
    i = next((i for i, (x, y) in enumerate(zip(la, lb, strict=False)) if x != y), min(len(la), len(lb)))
    was = la[i] if i < len(la) else "(end)"
    now = lb[i] if i < len(lb) else "(end)"
    return f" (committed: {was[:100]!r}; now: {now[:100]!r})"
