"""A concept's "What differs": what holds for every backend (the concept table's note, concepts.py; its
Korean in lesson_text.py or page_text.py), then each backend's own paragraph (``note`` and ``ko`` of
``[concepts.KEY]`` in its docs.toml), under the framework's name.

The side-by-side pages show every column's paragraph, each hidden with its column by the chooser; a
notebook shows its own backend's.
"""

from __future__ import annotations

from collections.abc import Sequence

from . import columns
from .base import ORDER, SHORT
from .refs import Concept


def own(concept: Concept, lang: str, backends: Sequence[str] = ORDER) -> list[tuple[str, str, str]]:
    """Each backend's (name, display name, paragraph) on the concept in ``lang``, those that have one."""
    return [(b, SHORT[b], text) for b in backends if (text := columns.note(b, concept.key, lang))]


def markdown(head: str, shared: str, concept: Concept, lang: str, backends: Sequence[str] = ORDER) -> list[str]:
    """The note in Markdown: ``head`` (the bold "What differs.") and the shared note, then a list item per
    backend's paragraph; each paragraph a line, then an empty line."""
    paragraphs = own(concept, lang, backends)
    out = [f"{head} {shared}".rstrip(), ""]
    if paragraphs:
        out += [f"- **{name}.** {text}" for _, name, text in paragraphs] + [""]
    return out
