"""``softmax-rosetta rosetta`` and ``notebooks``: the side-by-side docs and the lesson's notebooks, generated
from the backends' code (tools/rosetta/ does the work)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .options import PROG, UsageError, add_debug, out_folder_exists_as_file


def add_parsers(sub: Any) -> None:
    rosetta = sub.add_parser(
        "rosetta",
        help="write docs/rosetta.md, rosetta.html, lesson.md, ko/: the lesson in the three backends",
        description="Generate docs/rosetta.md and docs/rosetta.html from the backends' own code, as the concept "
        "table in tools/rosetta/concepts.py names it: each concept's code in NumPy, PyTorch and JAX, "
        "linked to its file and line, a note on what differs, and the numbers every backend computes on "
        "the seed spec, and docs/ko/rosetta.html (the same page in Korean); and docs/lesson.md and "
        "docs/ko/lesson.md (the lesson step by step, in English and Korean). --check writes nothing and exits 1 "
        "if a file is stale against the code.",
    )
    rosetta.add_argument("--out", default="docs", help="folder for rosetta.md and rosetta.html (default: docs)")
    rosetta.add_argument("--check", action="store_true", help="exit 1 if the files in --out are stale against the code")
    rosetta.add_argument(
        "--repo-url",
        metavar="URL",
        help="link each block to {URL}/{path}#L{line}, URL being where the repository's files are, e.g. "
        "https://github.com/OWNER/REPO/blob/main (default: ../{path}#L{line} from docs/ in the Markdown, "
        "the block's own line in the HTML page); --check needs the same URL",
    )
    add_debug(rosetta)
    rosetta.set_defaults(run=rosetta_main)
    notebooks = sub.add_parser(
        "notebooks",
        help="write notebooks/numpy.ipynb, torch.ipynb, jax.ipynb (and ko/): the lesson's steps, executed",
        description="Generate one Jupyter notebook per backend from the lesson's steps (tools/rosetta/lesson_steps.py) "
        "and the backends' code, execute it in the python3 kernel of this environment, and write it with its "
        "outputs, and its Korean twin in ko/ (the same code cells and outputs, the text in Korean). "
        "--check writes nothing: it makes and runs them afresh and exits 1 if a committed one is "
        "stale (its cells differ, or an output's numbers differ by more than the seed spec's tolerances). "
        "Needs the notebooks extra: pip install 'softmax-rosetta[notebooks]'.",
    )
    notebooks.add_argument("--out", default="notebooks", help="folder for the notebooks (default: notebooks)")
    notebooks.add_argument("--check", action="store_true", help="exit 1 if the notebooks in --out are stale")
    notebooks.add_argument(
        "--repo-url",
        metavar="URL",
        help="the repository on GitHub, https://github.com/OWNER/REPO (or .../blob/BRANCH): each notebook's "
        '"Open in Colab" link and its first cell\'s pip install come from it (default: [project.urls] '
        "Repository in pyproject.toml; without one, no Colab link); --check needs the same URL",
    )
    add_debug(notebooks)
    notebooks.set_defaults(run=notebooks_main)


def rosetta_main(args: argparse.Namespace) -> int:
    """docs/rosetta.md and docs/rosetta.html: see tools/rosetta/ (its table: concepts.py)."""
    from softmax_rosetta.registry import missing_packages

    from .rosetta import FILES, ORDER, RosettaError, build, check, write

    if args.check:
        out_folder_exists_as_file(args.out)
    try:
        if not args.check:
            for path in write(args.out, repo=args.repo_url):
                print(f"wrote {path}")
            return 0
        missing = [b for b in ORDER if missing_packages(b)]
        if missing:
            print(
                f"{PROG}: numbers not checked ({', '.join(missing)} not installed): checking the code only",
                file=sys.stderr,
            )
        notes: list[str] = []
        problems = check(args.out, build(numbers=not missing, repo=args.repo_url), notes)
    except RosettaError as exc:
        raise UsageError(str(exc)) from None
    for note in notes:
        print(f"{PROG}: note: {note}", file=sys.stderr)
    for problem in problems:
        print(f"{PROG}: {problem}", file=sys.stderr)
    if problems:
        again = f"{PROG} rosetta --out {args.out}" + (f" --repo-url {args.repo_url}" if args.repo_url else "")
        print(f"{PROG}: regenerate them with: {again}", file=sys.stderr)
        return 1
    print(f"{', '.join(FILES)} in {args.out} are current")
    return 0


def notebooks_main(args: argparse.Namespace) -> int:
    """notebooks/<backend>.ipynb: see tools/rosetta/notebooks.py."""
    from .rosetta import RosettaError
    from .rosetta import notebooks as nbs

    if args.check:
        out_folder_exists_as_file(args.out)
    try:
        if not args.check:
            for path in nbs.write(args.out, repo=args.repo_url):
                print(f"wrote {path}")
            return 0
        problems = nbs.check(args.out, repo=args.repo_url)
    except RosettaError as exc:
        raise UsageError(str(exc)) from None
    for problem in problems:
        print(f"{PROG}: {problem}", file=sys.stderr)
    if problems:
        again = f"{PROG} notebooks --out {args.out}" + (f" --repo-url {args.repo_url}" if args.repo_url else "")
        print(f"{PROG}: regenerate them with: {again}", file=sys.stderr)
        return 1
    print(f"the notebooks in {args.out} are current")
    return 0
