"""The side-by-side page's framework chooser: a box per column that shows or hides that backend's code
and numbers, the choice kept in the page's address (``rosetta.html?show=torch,jax``) so that a link
opens the same view.

- The hiding is CSS alone: one rule per column, generated from the columns (``ORDER``), hides the
  column's code and its numbers while its box is unticked. So the boxes work without JavaScript, and
  without JavaScript the page shows every column (the boxes start ticked; the address is not read).
- The script, inline (the page's only one; nothing is fetched, so it works from file://), knows no
  backend's name: it reads them from the boxes (``data-backend``). When the page opens it ticks the
  boxes that ``?show=`` names (several ``show`` parameters join; names are case-blind, commas or
  spaces between them; a name that is no column's is ignored, and a ``?show=`` that names no column
  shows them all). When a box changes it writes the choice back into the address with
  ``history.replaceState`` (``?show=`` is left out when every column is shown) and carries it to the
  other language's page.
- At least one column stays: with the script, the last ticked box can't be unticked (it is
  disabled); without it, unticking every box shows every column, as an empty choice would be a page
  with no code.
- What compares every backend still does: the loss plot, each table's "largest difference", and
  "Why the last digits differ" (the page says so).
"""

from __future__ import annotations

import html
import json

from .base import ORDER, SHORT

PARAM = "show"  # the address's parameter: ?show=torch,jax
BOX_ID = "show-{backend}"  # each column's box


def example() -> str:
    """The address's parameter as the page's prose shows it: every column but the first."""
    return f"?{PARAM}={','.join(ORDER[1:])}"


def boxes_html(label: str) -> str:
    """The chooser: ``label`` ("Show:"), then a ticked box per column, named by the backend's display name."""
    e = html.escape
    boxes = "".join(
        f'<label><input type="checkbox" id="{BOX_ID.format(backend=b)}" data-backend="{e(b)}" checked '
        f'autocomplete="off">{e(SHORT[b])}</label>'
        for b in ORDER
    )
    return f'<span class="controls chooser" role="group" aria-label="{e(label)}">{e(label)} {boxes}</span>'


def css() -> str:
    """The chooser's style, and for each column the rule that hides its code and numbers while its box
    is unticked (unless every box is: then nothing is hidden). Only the columns' own elements carry the
    backend's name as a class (``div.col.jax``, a table's ``th.jax`` and ``td.jax``), so a backend's name
    can't hide anything else."""
    rules = [
        ".chooser { cursor: default; display: inline-flex; flex-wrap: wrap; align-items: center; gap: 0 10px; }",
        ".chooser label { cursor: pointer; }",
        ".chooser label:has(input:disabled) { cursor: not-allowed; }",
    ]
    for b in ORDER:
        rules.append(
            f"body:has(.chooser input:checked):has(#{BOX_ID.format(backend=b)}:not(:checked)) "
            f":is(.col.{b}, table.numbers :is(th, td).{b}, .note li.{b}) {{ display: none; }}"
        )
    return "\n".join(rules)


# The script. It names no backend: the boxes say which columns there are.
SCRIPT = """
(() => {
  const param = PARAM;
  const boxes = [...document.querySelectorAll(".chooser input[data-backend]")];
  const names = boxes.map(box => box.dataset.backend);
  const query = new URLSearchParams(location.search);
  const asked = query.getAll(param).join(",").toLowerCase().split(/[\\s,]+/).filter(n => names.includes(n));
  if (asked.length) for (const box of boxes) box.checked = asked.includes(box.dataset.backend);
  query.delete(param);
  const search = () => {
    const shown = boxes.filter(box => box.checked).map(box => box.dataset.backend);
    const parts = query.toString() ? [query.toString()] : [];
    if (shown.length < boxes.length) parts.push(param + "=" + shown.join(","));
    return parts.length ? "?" + parts.join("&") : "";
  };
  const update = save => {
    const ticked = boxes.filter(box => box.checked);
    for (const box of boxes) box.disabled = box.checked && ticked.length === 1;
    const s = search();
    for (const link of document.querySelectorAll("a[hreflang]")) link.search = s;
    if (save && s !== location.search) {
      try { history.replaceState(history.state, "", location.pathname + s + location.hash); } catch (e) {}
    }
  };
  for (const box of boxes) box.addEventListener("change", () => update(true));
  update(false);
})();
""".replace("PARAM;", json.dumps(PARAM) + ";", 1)


def script_html() -> str:
    return f"<script>{SCRIPT.rstrip()}\n</script>"
