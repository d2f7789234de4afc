"""docs/backends.md ("Write a backend") shows the plugin that tests/test_conform_plugin.py installs and runs:
its files are those files, and its commands are ones the command line takes."""

import re
import shlex
from pathlib import Path

import pytest

from softmax_rosetta.tools.cli import _parser
from softmax_rosetta.tools.conform import checks
from softmax_rosetta.tools.conform.deviations import load

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "backends.md").read_text(encoding="utf-8")
PLUGIN = ROOT / "tests" / "plugin_example"
SHOWN = re.findall(r"<!-- file: (\S+) -->\n```\w*\n(.*?)\n```", DOC, flags=re.S)


def test_the_page_shows_every_file_of_the_plugin():
    ignored = ("build", "__pycache__", "rosetta_tiny.egg-info")  # what a build leaves, which git ignores
    found = (p.relative_to(PLUGIN) for p in PLUGIN.rglob("*") if p.is_file())
    files = sorted(str(p) for p in found if not set(p.parts) & set(ignored))
    shown = sorted(name for name, _ in SHOWN)
    assert set(shown) == set(files) - {"rosetta_tiny/__init__.py"}  # the empty package file is only listed
    assert "__init__.py " in DOC  # listed in the tree


@pytest.mark.parametrize(("name", "text"), SHOWN, ids=[name for name, _ in SHOWN])
def test_each_file_shown_is_the_tested_one(name, text):
    assert text + "\n" == (PLUGIN / name).read_text(encoding="utf-8")


def test_each_command_on_the_page_is_one_the_cli_takes():
    commands = [
        line.split("#")[0].strip()
        for block in re.findall(r"```bash\n(.*?)```", DOC, flags=re.S)
        for line in block.splitlines()
        if line.startswith("softmax-rosetta ")
    ]
    assert len(commands) >= 6
    parser = _parser()
    for command in commands:
        args = parser.parse_args(shlex.split(command)[1:])
        assert callable(args.run), command


def test_the_table_names_every_check_of_the_kit():
    from softmax_rosetta.backends.numpy_impl.backend import NumpyBackend

    table = DOC.split("| group | checks |", 1)[1].split("\n\n", 1)[0]
    for _, check in checks.plan(NumpyBackend, ["seed"]):
        shown = {"trajectory:seed": "trajectory:SPEC", "variant:fast": "variant:NAME"}.get(check, check)
        shown = "variant:NAME" if shown.startswith("variant:") else shown
        short = ":" + check.split(":", 1)[1] if check.startswith("cross_entropy:") else shown
        assert f"`{shown}`" in table or f"`{short}`" in table, check


def test_the_plugins_deviations_file_is_valid():
    import sys

    sys.path.insert(0, str(PLUGIN))
    try:
        from rosetta_tiny.backend import TinyBackend
    finally:
        sys.path.remove(str(PLUGIN))
    (deviation,) = load(TinyBackend, [c for _, c in checks.plan(TinyBackend, ["seed"])], "tiny")
    assert deviation.check == "cross_entropy:fused" and deviation.reason
