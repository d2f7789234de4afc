"""The docs' section "Why the last digits differ": where two backends' seed runs first part, bit
for bit, the demonstrated cause (tools/diverge/causes.py), and how the difference grows.

Bits depend on the machine: the CPU model (its SIMD lanes, whether a multiply-add is fused), how
many CPUs (a BLAS may split its work by threads), and the frameworks' and their BLAS's versions.
So the section records where it was made (``cause_run.machine_line``), and the check
(``check_region``) is honest in both directions: on a machine that matches the record it
recomputes every fact and requires the committed ones, exactly; on another machine it cannot
say whether they hold there, so it says that the section was made elsewhere and checks the text
around it only (the ``why`` region, stale.py, is not compared with the rest of the page).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

import numpy as np

from softmax_rosetta.registry import get_backend
from softmax_rosetta.spec import Spec
from softmax_rosetta.trace import QUANTITIES, trace

from ..diverge.cause_run import explain_first, machine_line
from ..diverge.causes import Explanation
from ..diverge.first import FirstDifference, ulps
from .base import DTYPE, SHORT

TITLE = "Why the last digits differ"
ANCHOR = "why-the-last-digits-differ"
PAIRS = (("torch", "jax"), ("numpy", "torch"))  # issue 21: torch against JAX, NumPy against torch
STEPS = 10  # the steps traced to find the first difference
EPOCHS = (0, 1, 10, 100, 1000)  # where the cost difference is shown (those the run has)
MACHINE = "Measured on: "

PROSE = [
    "The backends compute the same formulas and still print different last digits. A float32 "
    "number keeps 24 significant bits; the gap between it and the next float32 is one *ulp* (unit in "
    "the last place): 2^-23, about 1.2e-7, for numbers between 1 and 2. Every addition and "
    "multiplication rounds its exact result to the nearest float32, so the order of a sum matters: "
    "(a + b) + c and a + (b + c) may differ in the last bit. A fused multiply-add (FMA) computes "
    "a * b + c with one rounding where a multiply and then an add round twice. Each framework picks "
    "the order and the instructions that are fastest on the CPU (SIMD lanes, a blocked matmul, FMA), "
    "so two correct programs part at the first operation they compute another way, by an ulp or a "
    "few, and training carries the difference on.",
    "It does not matter for the lesson: differences of this size are what rounding alone makes "
    "([tolerances.md](tolerances.md) derives how far they may go), far below anything that changes what "
    "the model learns; below, each pair's largest cost difference is set against the spec's tolerance. "
    "`softmax-rosetta diverge` finds the first difference of any two runs ([diverge.md](diverge.md)); "
    "below, the seed spec's, with the cause of each demonstrated: the one operation recomputed in "
    "NumPy with one choice changed gives the other backend's bits, every element (no cause is named "
    "without that).",
    "These bits depend on the machine (the CPU, its core count, the BLAS and the frameworks' "
    "versions), so the numbers record where they were made. `softmax-rosetta rosetta --check` "
    "recomputes them and requires them exactly on a machine that matches the record, and elsewhere "
    "says that they were made on another machine and checks the rest of the page.",
]


@dataclass(frozen=True)
class PairWhy:
    a: str
    b: str
    first: FirstDifference | None
    explanation: Explanation | None
    costs: tuple[tuple[int, float, float], ...]  # (epoch, |cost a - cost b|, in ulps of float32)
    epochs: int  # how many epochs' costs both runs have
    first_cost_epoch: int | None  # the first epoch whose cost differs
    largest: tuple[int, float, float]  # the largest cost difference over the run: (epoch, difference, ulps)


@dataclass(frozen=True)
class Why:
    machine: str
    pairs: tuple[PairWhy, ...]


def build_why(spec: Spec, costs: dict[str, np.ndarray]) -> Why:
    """The section's facts, measured now: each pair's traces of the first ``STEPS`` steps in
    DTYPE, their first difference explained, and their costs (``costs``: each backend's lesson
    run, the docs' own) compared."""
    traces = {name: trace(get_backend(name, dtype=DTYPE), spec, range(STEPS)) for name in {n for p in PAIRS for n in p}}
    pairs = []
    for a, b in PAIRS:
        found, why = explain_first(spec, DTYPE, {a: traces[a], b: traces[b]})
        ca, cb = np.asarray(costs[a]), np.asarray(costs[b])
        n = min(len(ca), len(cb))
        rows = tuple(
            (e, float(abs(np.float64(ca[e]) - np.float64(cb[e]))), float(ulps(ca[e : e + 1], cb[e : e + 1])[0]))
            for e in EPOCHS
            if e < n
        )
        differing = np.nonzero(ca[:n] != cb[:n])[0]
        gaps = np.abs(ca[:n].astype(np.float64) - cb[:n].astype(np.float64))
        at = int(np.argmax(gaps))
        largest = (at, float(gaps[at]), float(ulps(ca[at : at + 1], cb[at : at + 1])[0]))
        first_epoch = int(differing[0]) if differing.size else None
        pairs.append(PairWhy(a, b, found, why, rows, n, first_epoch, largest))
    return Why(machine_line(), tuple(pairs))


Table = tuple[list[str], list[list[str]]]  # its head, its rows


def _lines(why: Why, spec: Spec) -> list[tuple[str, str | Table]]:
    """The region's content as ("h", title) / ("p", text with `code` spans) / ("table", (head, rows))."""
    out: list[tuple[str, str | Table]] = [("p", MACHINE + why.machine + ".")]
    tolerance = spec.tolerance(DTYPE).cost
    for pair in why.pairs:
        a, b = SHORT[pair.a], SHORT[pair.b]
        out.append(("h", f"{a} against {b} ({DTYPE}, spec {spec.name})"))
        f, x = pair.first, pair.explanation
        if f is None or x is None:
            out.append(("p", f"No difference in the first {STEPS} steps: the two agree bit for bit there."))
        else:
            out.append(
                (
                    "p",
                    f"First difference: step `{f.step}` (epoch `{f.epoch}`), `{f.quantity}`: `{f.differing}` of "
                    f"`{f.size}` elements differ, by at most `{f.max_ulps:g}` ulps (`{f.max_abs:.2g}`). "
                    + (
                        "It is the step's first operation: its inputs, the data and the parameters, are the same "
                        "bits in both."
                        if f.quantity == QUANTITIES[0]
                        else "Everything the step computes before it is bit-identical in both."
                    ),
                )
            )
            if x.cause is not None:
                out.append(("p", f"Cause, demonstrated: **{x.cause}**. {x.detail}."))
            else:
                out.append(("p", f"Cause: not identified. {x.detail}."))
        head = ["epoch", "cost difference", "in float32 ulps"]
        rows = [[f"`{e}`", f"`{d:.2g}`" if d else "`0`", f"`{u:g}`"] for e, d, u in pair.costs]
        out.append(("table", (head, rows)))
        e, d, u = pair.largest
        where = "never" if pair.first_cost_epoch is None else f"first at epoch `{pair.first_cost_epoch}`"
        out.append(
            (
                "p",
                f"How it grows: the costs differ {where}; the table shows a few epochs, and the largest "
                f"difference over all `{pair.epochs}` epochs is `{d:.2g}` (`{u:g}` ulps, epoch `{e}`), "
                f"{'within' if d <= tolerance else 'OUTSIDE'} the spec's cost tolerance for {DTYPE}, "
                f"`{tolerance:g}`.",
            )
        )
    return out


def region_markdown(why: Why | None, spec: Spec) -> str:
    if why is None:
        return "(not computed: built with numbers=False)"
    out: list[str] = []
    for kind, item in _lines(why, spec):
        if isinstance(item, str):
            out += [f"### {item}" if kind == "h" else item, ""]
        else:
            head, rows = item
            out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            out += ["| " + " | ".join(r) + " |" for r in rows] + [""]
    return "\n".join(out).rstrip("\n")


def region_html(why: Why | None, spec: Spec) -> str:
    e = html.escape
    if why is None:
        return f"<p>{e('(not computed: built with numbers=False)')}</p>"

    def inline(text: str) -> str:
        text = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", e(text))
        return re.sub(r"`([^`]+)`", r"<code>\1</code>", text)

    out: list[str] = []
    for kind, item in _lines(why, spec):
        if isinstance(item, str):
            out.append(f"<h3>{e(item)}</h3>" if kind == "h" else f"<p>{inline(item)}</p>")
        else:
            head, rows = item
            out.append('<div class="table-box"><table class="numbers why">')
            out.append("<thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr></thead><tbody>")
            out += ["<tr>" + "".join(f"<td>{inline(c)}</td>" for c in r) + "</tr>" for r in rows]
            out.append("</tbody></table></div>")
    return "\n".join(out)


def recorded_machine(region: str) -> str | None:
    """The machine a committed region says it was made on (None: it names none)."""
    m = re.search(re.escape(MACHINE) + r"(.*?)\.(?:</p>)?\n", region + "\n")
    return html.unescape(m.group(1)) if m else None
