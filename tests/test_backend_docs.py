"""Each backend's docs.toml: what the docs show of it (its code per concept, its notes in both languages,
its notebook's dialect, its plot style, the lesson's one-line formulas in its framework), read without
importing its framework; and a broken one reported in one line naming its file."""

import re
import sys

import pytest

from softmax_rosetta import registry
from softmax_rosetta.checks import BackendError
from softmax_rosetta.tools.rosetta import ORDER, RosettaError, columns
from softmax_rosetta.tools.rosetta.concepts import concepts
from softmax_rosetta.tools.rosetta.lesson_steps import STEPS


def _spans(text):
    return sorted(re.findall(r"`([^`]+)`", text))


@pytest.mark.parametrize("backend", ORDER)
def test_every_column_places_every_concept_and_writes_every_formula(backend):
    for c in concepts():
        assert columns.code(backend, c.key), c.key
    for step in STEPS:
        if step.formula is not None:
            assert columns.formula(backend, step.key).strip(), step.key
    assert set(columns.dialect(backend)) == set(columns.DIALECT_KEYS)
    line, _ = columns.plot_style(backend)
    assert line.get("color"), "its cost curve needs a colour of its own"


def test_the_columns_plot_in_colours_of_their_own():
    runs = [columns.plot_style(b)[0] for b in ORDER]
    runs += [line for b in ORDER for _, line, _ in columns.plotted_runs(b).values()]
    colours = [line["color"] for line in runs]
    assert len(set(colours)) == len(colours), colours


@pytest.mark.parametrize("backend", ORDER)
def test_each_backends_note_names_the_same_code_in_both_languages(backend):
    """A retelling may say things its own way, but it names the same code (every inline code span)."""
    for c in concepts():
        en, ko = columns.note(backend, c.key, "en"), columns.note(backend, c.key, "ko")
        assert _spans(en) == _spans(ko), (backend, c.key)
        assert bool(en) == bool(ko), (backend, c.key)


def test_docs_are_read_without_importing_a_framework():
    import subprocess

    code = (
        "import sys\n"
        "from softmax_rosetta.registry import backend_docs, BACKENDS\n"
        "found = {b: sorted(backend_docs(b)) for b in BACKENDS}\n"
        "print(sorted(m for m in ('torch', 'jax', 'mlx', 'numba') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """A backend module on sys.path whose docs.toml the test writes, registered as "fake"."""
    package = tmp_path / "fake_backend"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "backend.py").write_text(
        "from softmax_rosetta.backend import Backend\n\n\nclass Fake(Backend):\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    info = registry.BackendInfo("fake", "fake_backend.backend", "Fake", (), "", distribution="fake-dist")
    monkeypatch.setitem(registry.BACKENDS, "fake", info)
    columns.docs.cache_clear()
    yield package / "docs.toml"
    columns.docs.cache_clear()


def test_a_backend_without_docs_toml_has_no_column(plugin):
    assert registry.backend_docs("fake") == {}


def test_a_docs_toml_that_isnt_toml_is_one_line_naming_it(plugin):
    plugin.write_text("[concepts.softmax\ncode = 1\n")
    with pytest.raises(BackendError) as exc:
        registry.backend_docs("fake")
    message = str(exc.value)
    assert "\n" not in message and "'fake'" in message and str(plugin) in message and "not valid TOML" in message
    with pytest.raises(RosettaError, match="not valid TOML"):
        columns.docs("fake")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('[concepts.softmax]\nnote = "x"\n', r"\[concepts.softmax\] needs code = \[...\]"),
        ("[concepts.softmax]\ncode = [1]\n", r"code has 1: a piece is \"module:name\""),
        ('[concepts.softmax]\ncode = [{ target = "functional:f", lines = ["a"] }]\n', r"a piece is"),
        ('[concepts.other]\ncode = ["functional:f"]\n', r"has no \[concepts\] softmax"),
    ],
)
def test_a_concept_placed_wrongly_is_one_line_naming_the_file(plugin, text, error):
    plugin.write_text(text)
    with pytest.raises(RosettaError, match=error) as exc:
        columns.code("fake", "softmax")
    assert "\n" not in str(exc.value) and "backend 'fake'" in str(exc.value)


def test_a_note_without_its_korean_is_refused(plugin):
    plugin.write_text('[concepts.softmax]\ncode = ["functional:softmax"]\nnote = "Only English."\n')
    assert columns.note("fake", "softmax", "en") == "Only English."
    with pytest.raises(RosettaError, match="a note without its ko"):
        columns.note("fake", "softmax", "ko")


def test_a_dash_pattern_comes_back_as_matplotlib_wants_it(plugin):
    plugin.write_text('[plot]\nline = { color = "#123456", linestyle = [0, [1, 3]] }\n')
    line, marker = columns.plot_style("fake")
    assert line == {"color": "#123456", "linestyle": (0, (1, 3))} and marker == {}


def test_the_example_in_docs_backends_md_is_mlxs_file():
    """docs/backends.md shows MLX's docs.toml in part: what it shows is what the file says."""
    import tomllib
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "docs" / "backends.md").read_text(encoding="utf-8")
    section = page.split("## 6. Its column in the docs", 1)[1]
    block = section.split("```toml\n", 1)[1].split("```", 1)[0]
    shown = tomllib.loads(block)
    real = registry.backend_docs("mlx")
    assert shown["notebook"] == real["notebook"]
    assert shown["plot"] == {k: v for k, v in real["plot"].items() if k in shown["plot"]}
    assert shown["formulas"].items() <= real["formulas"].items()
    assert shown["concepts"]["softmax"]["code"] == real["concepts"]["softmax"]["code"]


@pytest.mark.slow  # a fresh process that builds the docs' text: about 3 s
def test_a_plugin_with_a_docs_toml_is_a_column_of_the_docs(tmp_path):
    """A backend from a distribution of its own (NumPy's modules under another name, its own docs.toml
    with a colour of its own) joins the side-by-side docs with no edit to this repository."""
    import os
    import shutil
    import subprocess
    from pathlib import Path

    numpy_impl = Path(__file__).resolve().parents[1] / "backends" / "numpy_impl"
    package = tmp_path / "docs_plugin"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for module in ("functional", "model", "train", "fast"):
        shutil.copy(numpy_impl / f"{module}.py", package / f"{module}.py")
    docs = (numpy_impl / "docs.toml").read_text(encoding="utf-8").replace("#4d77cf", "#999933")
    (package / "docs.toml").write_text(docs, encoding="utf-8")
    (package / "backend.py").write_text(
        "from softmax_rosetta.backends.numpy_impl.backend import NumpyBackend\n\n\n"
        "class PlugBackend(NumpyBackend):\n"
        '    name = "plug"\n    display_name = "Plug"\n    title = "Plug (NumPy inside)"\n'
        '    packages = ("numpy",)\n    extra = ""\n'
    )
    info = tmp_path / "docs_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: docs-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[softmax_rosetta.backends]\nplug = docs_plugin.backend:PlugBackend\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}
    code = (
        "from softmax_rosetta.tools import rosetta\n"
        "from softmax_rosetta.tools.rosetta.html import _heading_css\n"
        "print(','.join(rosetta.ORDER))\n"
        "pages = rosetta.render(rosetta.build(numbers=False))\n"
        "print(pages['rosetta.md'].count('### Plug (NumPy inside)'))\n"
        "print(pages['rosetta.html'].count('docs_plugin/functional.py'))\n"
        "print([line for line in _heading_css().splitlines() if 'plug' in line][0])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    order, sections, links, heading = out.stdout.strip().splitlines()
    assert order == "numpy,torch,jax,mlx,plug"
    assert int(sections) == len(concepts()) and int(links) > 0
    assert heading.startswith(".col.plug h3 { background: #999933;")
