"""The lesson side by side: docs/rosetta.md, docs/rosetta.html, docs/lesson.md (and in Korean,
docs/ko/rosetta.html and docs/ko/lesson.md), and the notebooks,
generated from the backends' code.

    softmax-rosetta rosetta            # write docs/rosetta.md, rosetta.html, lesson.md, ko/rosetta.html, ko/lesson.md
    softmax-rosetta rosetta --check    # exit 1 if one is stale against the code
    softmax-rosetta notebooks          # write notebooks/<backend>.ipynb, executed (notebooks.py)

For each concept (softmax, the three loss levels, torch's cross-entropy options, the model, the
optimizer, one step, the loop, the fused loop) the docs show the code of every backend one
after another (a column each in the HTML), each block cut from its file with ``ast`` and linked
to its file and line, a note on what differs and why, and the numbers the backends compute
on the seed spec (float32, CPU). rosetta.md and rosetta.html end with "Why the last digits
differ": where two backends first part, bit for bit, and why (why.py).

The concept table (``concepts.py``, with the computations of its numbers in ``computations.py``)
lists the sections; each backend's docs.toml (``columns.py``) names its code for each, and the
backend's own notes. A name that is gone raises ``RosettaError`` naming the concept, the backend
and the file: when code is renamed, the staleness test says where to update its docs.toml.

The modules, in the order the docs are made:
    concepts.py      the table: every concept (refs.py: Ref, Numbers, Concept, same)
    computations.py  what the table's numbers compute beyond one call of a backend
    extract.py       a reference's source lines, found with ``ast`` (no framework imported)
    context.py       one backend set up on the spec, for the computations
    run.py           build(): every concept's code and numbers (Rosetta, Section, Row)
    numbers.py       how numbers are printed, and each printed number's tolerance
    prose.py         the text both pages share
    markdown.py      docs/rosetta.md
    html.py          docs/rosetta.html and docs/ko/rosetta.html (plot.py: its loss plot, wide and narrow;
                     page_text.py: the page's words in both languages; chooser.py: its box per
                     column to show or hide it, the choice kept in the address, ?show=torch,jax)
    lesson_steps.py  the lesson's steps: their text in English and Korean, the concepts each shows, the
                     lesson's one-line formulas and examples
    lesson_types.py  what a step is made of (Step, Prose, Formula)
    lesson.py        what the pages compute from the steps (the formulas' and examples' numbers)
    lesson_text.py   the lesson pages' fixed strings in both languages; the concepts' notes in Korean
    lesson_markdown.py  docs/lesson.md and docs/ko/lesson.md: one renderer, a language parameter
    stale.py         whether a committed doc is stale
    why.py           "Why the last digits differ": the seed's first differences and their
                     demonstrated causes (tools/diverge/causes.py), checked where they were made
    docs.py          render, write, check: the three files
    cells.py         the notebooks' code cells, one per step (the same code in every backend)
    notebooks.py     notebooks/<backend>.ipynb and notebooks/ko/<backend>.ipynb: made, executed (nbclient), checked
    notebook_text.py the notebooks' fixed strings in both languages
"""

from .base import DTYPE, FILES, ORDER, SPEC, TABLE_FILE, RosettaError
from .concepts import Concept, Numbers, Ref, concepts
from .docs import check, render, write
from .extract import Block, extract
from .run import Rosetta, Row, Section, build

__all__ = [
    "DTYPE",
    "FILES",
    "ORDER",
    "SPEC",
    "TABLE_FILE",
    "Block",
    "Concept",
    "Numbers",
    "Ref",
    "Rosetta",
    "RosettaError",
    "Row",
    "Section",
    "build",
    "check",
    "concepts",
    "extract",
    "render",
    "write",
]
