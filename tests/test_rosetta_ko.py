"""docs/ko/rosetta.html, the side-by-side page in Korean: the same sections, code blocks, links and
numbers as docs/rosetta.html, and every heading, introduction, note and label in Korean.

Both pages come from one renderer (html.py, its words in page_text.py); tests/test_rosetta.py checks
that the committed ones are current, and lays the English one out in Chromium (the layout is shared)."""

import html
import re
from pathlib import Path

import pytest

from softmax_rosetta.tools import rosetta
from softmax_rosetta.tools.rosetta.html import render_html
from softmax_rosetta.tools.rosetta.lesson_text import CONCEPTS_KO, GLOSSARY
from softmax_rosetta.tools.rosetta.page_text import INTROS_KO, PAGE, PAGE_CONCEPTS_KO, PAGES
from softmax_rosetta.tools.rosetta.stale import split_numbers

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
HANGUL = re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3]")
SECTION = re.compile(r'<section id="([^"]+)">')
CODE = re.compile(r'<div class="highlight"><pre>.*?</pre></div>', re.S)
REF = re.compile(r'<div class="ref"><a href="([^"]+)">([^<]+)</a>')
NUMBERS = re.compile(r"<!-- numbers -->\n(.*?)\n<!-- /numbers -->", re.S)


def committed(lang):
    return (DOCS / PAGES[lang]).read_text(encoding="utf-8")


def structure(page):
    """What must be the same in every language: the sections (by id, in order), each code block's
    markup, the blocks' file links, and each numbers table's numbers and its rows and columns."""
    tables = []
    for region in NUMBERS.findall(page):
        shape = [row.count("<td") for row in re.findall(r"<tr>.*?</tr>", region)]
        tables.append(([n for n, _ in split_numbers(region)[1]], shape))
    return {
        "sections": SECTION.findall(page),
        "code": CODE.findall(page),
        "links": REF.findall(page),
        "numbers": tables,
    }


def test_both_languages_have_the_same_sections_code_and_numbers():
    en, ko = structure(committed("en")), structure(committed("ko"))
    assert len(en["sections"]) == len(rosetta.build(numbers=False).sections) + 1  # and "Why the last digits differ"
    assert en["code"] and en["links"] and sum(len(n) for n, _ in en["numbers"]) > 100
    for part in en:
        assert ko[part] == en[part], f"docs/{PAGES['ko']} and docs/{PAGES['en']} differ in their {part}"


def test_the_comparison_catches_a_missing_section_code_block_or_number():
    """The structure above is not vacuous: each kind of drift changes it."""
    ko = committed("ko")
    base = structure(ko)
    first_number = re.search(r'<span class="nb">\[?(-?\d\.\d+)', ko).group(1)
    drifted = {
        "sections": ko.replace('<section id="one-hot">', "<section>", 1),
        "code": ko.replace(CODE.search(ko).group(), "", 1),
        "links": ko.replace('<div class="ref">', "<div>", 1),
        "numbers": ko.replace(first_number, "0.5", 1),
    }
    for part, page in drifted.items():
        assert structure(page)[part] != base[part], part


def _visible(fragment):
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


def test_every_heading_introduction_note_and_label_is_korean():
    ko = committed("ko")
    parts = {
        "heading": re.findall(r"<h[12][^>]*>(.*?)</h[12]>", ko),
        "contents": re.findall(r"<li><a href=\"#[^\"]+\">(.*?)</a></li>", ko),
        "introduction": re.findall(r'<p class="intro">(.*?)</p>', ko),
        "note": re.findall(r'<div class="note">(.*?)</div>', ko, re.S),
        "label": re.findall(r'<th class="label">(.*?)</th>', ko),
        "caption": re.findall(r"<figcaption>(.*?)</figcaption>", ko),
    }
    sections = len(rosetta.build(numbers=False).sections)
    assert len(parts["note"]) == len(parts["introduction"]) == sections and len(parts["label"]) > sections
    for kind, found in parts.items():
        english = [_visible(x) for x in found if not HANGUL.search(_visible(x))]
        assert english == [], f"docs/ko/rosetta.html: {kind} not in Korean: {english[:3]}"
    assert '<html lang="ko">' in ko and '<html lang="en">' in committed("en")


def test_every_concept_and_string_has_korean():
    built = rosetta.build(numbers=False)
    keys = {s.concept.key for s in built.sections}
    assert keys <= set(CONCEPTS_KO) | set(PAGE_CONCEPTS_KO), keys - set(CONCEPTS_KO) - set(PAGE_CONCEPTS_KO)
    assert {s.concept.key for s in built.sections if s.concept.intro} <= set(INTROS_KO)
    for key, strings in PAGE.items():
        assert "ko" in strings, key
    render_html(built, "ko")  # raises on a concept or a row without Korean
    missing = type(built.sections[0].concept)(**{**vars(built.sections[0].concept), "key": "nowhere"})
    built.sections[0].concept = missing
    with pytest.raises(rosetta.RosettaError, match="concept 'nowhere', which has no Korean"):
        render_html(built, "ko")


def _spans(text):
    return sorted(set(re.findall(r"`([^`]+)`", text)))


def test_each_introduction_and_note_names_the_same_code_in_both_languages():
    """A retelling may say things its own way, but it names the same code (every inline code span)."""
    concepts = {s.concept.key: s.concept for s in rosetta.build(numbers=False).sections}
    for key, intro in INTROS_KO.items():
        assert _spans(concepts[key].intro) == _spans(intro), key
    for key, (_, note) in PAGE_CONCEPTS_KO.items():
        assert _spans(concepts[key].note) == _spans(note), key


def test_the_korean_terms_have_their_english_beside_their_first_use():
    """In the prose: the headings, the contents, the code and the tables' labels are left out."""
    page = CODE.sub("", committed("ko").split("<body>", 1)[1])
    body = _visible(re.sub(r"<(nav|h1|h2|h3|table)\b.*?</\1>", "", page, flags=re.S))
    for term, english in GLOSSARY.items():
        at = body.find(term)
        if at >= 0:  # (not every term of the lesson is on this page)
            assert body[at + len(term) :].startswith(f"({english}"), f"{term}'s first use: {body[at : at + 40]!r}"


def test_the_pages_link_each_other_and_their_links_resolve():
    ko, en = committed("ko"), committed("en")
    assert PAGE["other_language"]["ko"] in ko and PAGE["other_language"]["en"] in en
    for lang, page in (("en", en), ("ko", ko)):
        ids = set(re.findall(r' id="([^"]+)"', page))
        folder = (DOCS / PAGES[lang]).parent
        for link in re.findall(r' href="([^"]+)"', page):
            target, _, anchor = link.partition("#")
            if re.match(r"https?://", target):
                continue
            if not target:
                assert anchor in ids, (lang, link)
            else:
                assert (folder / target).resolve().exists(), (lang, link)


def test_the_command_writes_and_names_both_pages():
    pages = rosetta.docs.render(rosetta.build(numbers=False))
    assert PAGES["ko"] in pages and PAGES["en"] in pages
    assert sorted(rosetta.FILES) == sorted(pages)
