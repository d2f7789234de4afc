"""Each notebook's "Open in Colab" link and first cell (tools/rosetta/colab.py): the link opens that
notebook from the repository, the cell installs this package with the framework's extra where it is
missing, and does nothing (but say so) where it is installed, as in the project's .venv."""

import ast
import contextlib
import io
import json
from pathlib import Path

import pytest

from softmax_rosetta.registry import BACKENDS
from softmax_rosetta.tools import rosetta
from softmax_rosetta.tools.cli import main
from softmax_rosetta.tools.rosetta import colab
from softmax_rosetta.tools.rosetta import notebooks as nbs

ROOT = Path(__file__).resolve().parents[1]
URL = "https://github.com/someone/softmax-rosetta"


@pytest.fixture(scope="module")
def code():
    pytest.importorskip("nbformat")
    return rosetta.build(numbers=False)


@pytest.mark.parametrize("backend", rosetta.ORDER)
@pytest.mark.parametrize("lang", ["en", "ko"])
def test_with_a_repository_each_notebook_opens_in_colab_and_installs_its_framework(code, backend, lang):
    nb = nbs.make_notebook(backend, code, lang, repo=URL + "/blob/dev")
    name = nbs.notebook_name(backend, lang)
    title, install = nb.cells[0], nb.cells[1]
    link = f"https://colab.research.google.com/github/someone/softmax-rosetta/blob/dev/notebooks/{name}"
    assert title.source.startswith(f"[![Open In Colab]({colab.BADGE})]({link})\n")
    assert install.cell_type == "code" and install.id == nbs.INSTALL
    extra = BACKENDS[backend].extra
    wanted = f"softmax-rosetta{f'[{extra}]' if extra else ''} @ git+https://github.com/someone/softmax-rosetta@dev"
    assert f'"pip", \'install --quiet "{wanted}"\'' in install.source
    ast.parse(install.source)  # plain Python, as the notebooks' other cells


@pytest.mark.parametrize("repo", [URL, None])
def test_where_the_package_is_installed_the_first_cell_does_nothing(code, repo):
    """Run as the project's .venv runs it: softmax_rosetta importable, so no pip and no error (get_ipython
    is not even defined here), and one line that says so."""
    source = nbs.make_notebook("torch", code, repo=repo).cells[1].source
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(source, "install", "exec"), {})
    assert out.getvalue() == colab.INSTALLED + "\n"


def test_without_a_repository_there_is_no_colab_link_and_the_cell_says_how_to_install(code, monkeypatch):
    nb = nbs.make_notebook("jax", code, repo=None)
    assert "Open In Colab" not in nb.cells[0].source and "colab.research" not in nb.cells[0].source
    source = nb.cells[1].source
    assert "get_ipython" not in source and "pip install -e '.[jax]'" in source
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)  # as where it is missing
    with pytest.raises(RuntimeError, match=r"softmax_rosetta is not installed"):
        exec(compile(source, "install", "exec"), {})


def test_the_repository_comes_from_pyproject_or_the_option(tmp_path):
    toml = tmp_path / "pyproject.toml"
    toml.write_text(f'[project]\nname = "x"\n\n[project.urls]\nRepository = "{URL}"\n')
    assert colab.repository(toml) == URL
    toml.write_text('[project]\nname = "x"\n')
    assert colab.repository(toml) is None
    assert colab.repository(tmp_path / "missing.toml") is None
    assert colab.github(URL) == ("someone", "softmax-rosetta", "main")
    assert colab.github(URL + ".git") == ("someone", "softmax-rosetta", "main")
    assert colab.github(URL + "/tree/v1.0") == ("someone", "softmax-rosetta", "v1.0")
    committed = colab.repository()  # this checkout's own setting, the one the committed notebooks used
    first = json.loads((ROOT / "notebooks" / "torch.ipynb").read_text(encoding="utf-8"))["cells"][0]
    assert ("Open In Colab" in "".join(first["source"])) == (committed is not None)


@pytest.mark.parametrize("url", ["https://gitlab.com/a/b", "github.com/a/b", "https://github.com/a", "x"])
def test_a_repository_colab_cannot_open_is_refused_in_one_line(url, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(nbs, "require_packages", lambda backends: None)
    assert main(["notebooks", "--out", str(tmp_path / "nb"), "--repo-url", url]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--repo-url" in err and repr(url) in err, err
    assert not (tmp_path / "nb" / "numpy.ipynb").exists()
