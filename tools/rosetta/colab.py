"""Each notebook's "Open in Colab" link and its first code cell, which installs this package from the
repository, with the framework's extra, where it is not installed (Colab); in the project's .venv it
says so and does nothing.

The repository's URL is read from one place, pyproject.toml's ``[project.urls] Repository``
(``https://github.com/OWNER/REPO``), or given to ``softmax-rosetta notebooks --repo-url``
(``https://github.com/OWNER/REPO`` or ``.../blob/BRANCH``, as ``rosetta --repo-url`` takes it).
A fork sets its own there and regenerates the notebooks. Without one, the notebooks have no Colab
link, and their first cell says, where the package is missing, how to install it.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from softmax_rosetta.registry import BACKENDS

from .base import RosettaError

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
LINE = 120  # ruff's line length (pyproject.toml): the cell is written as ruff format writes it
INSTALLED = "softmax_rosetta is installed already: nothing to install"
_GITHUB = re.compile(r"https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?(?:/(?:blob|tree)/([\w./-]+?))?/?")


def repository(pyproject: Path = PYPROJECT) -> str | None:
    """pyproject.toml's ``[project.urls] Repository``, or None (no such entry, or no pyproject.toml:
    an installed copy without the repository)."""
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return None
    url = data.get("project", {}).get("urls", {}).get("Repository")
    return url if isinstance(url, str) and url else None


def github(url: str) -> tuple[str, str, str]:
    """(owner, repository, branch) of a GitHub URL; the branch is main unless the URL names one."""
    found = _GITHUB.fullmatch(url.strip())
    if found is None:
        raise RosettaError(
            "notebooks: repository URL (--repo-url, or [project.urls] Repository in pyproject.toml): expected "
            f"https://github.com/OWNER/REPO or https://github.com/OWNER/REPO/blob/BRANCH (Colab opens GitHub); "
            f"got {url!r}"
        )
    owner, repo, branch = found.groups()
    return owner, repo, branch or "main"


def colab_link(url: str, name: str) -> str:
    """The Colab URL that opens notebooks/``name`` from the repository at ``url``."""
    owner, repo, branch = github(url)
    return f"https://colab.research.google.com/github/{owner}/{repo}/blob/{branch}/notebooks/{name}"


def badge(url: str | None, name: str) -> str:
    """The "Open in Colab" badge, linked, as markdown; "" without a repository URL."""
    return f"[![Open In Colab]({BADGE})]({colab_link(url, name)})" if url else ""


def requirement(backend: str, url: str) -> str:
    """What pip installs: this package with the backend's extra, from the repository."""
    extra = BACKENDS[backend].extra
    name = f"softmax-rosetta[{extra}]" if extra else "softmax-rosetta"
    owner, repo, branch = github(url)
    return f"{name} @ git+https://github.com/{owner}/{repo}@{branch}"


def install_source(backend: str, url: str | None) -> str:
    """The notebook's first code cell."""
    head = (
        "# Where this package is missing (Colab), install it from the repository with the framework's extra.\n"
        "# In the project's .venv (pip install -e '.[all]') it is installed already, and this does nothing.\n"
        "import importlib.util\n\n"
        'if importlib.util.find_spec("softmax_rosetta") is None:\n'
    )
    if url is None:
        extra = BACKENDS[backend].extra
        where = f".[{extra}]" if extra else "."
        body = f"    raise RuntimeError(\"softmax_rosetta is not installed: pip install -e '{where}' in a checkout\")\n"
    else:
        # %pip install, written as the call IPython makes of it, so that the cell is plain Python
        args = f'"pip", \'install --quiet "{requirement(backend, url)}"\''
        call = f"    get_ipython().run_line_magic({args})"
        if len(call) > LINE:  # the arguments on a line of their own, or each on its own
            inner = args if 8 + len(args) <= LINE else args.replace(", ", ",\n        ", 1) + ","
            call = f"    get_ipython().run_line_magic(\n        {inner}\n    )"
        body = call + "\n"
    return head + body + f'else:\n    print("{INSTALLED}")'
