"""report.md: the verdict first, then what failed, the summary, and every table behind them."""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

from softmax_rosetta.compare import CHECK_GROUPS, Check, accuracy_tolerance
from softmax_rosetta.spec_derived import FORWARD_CHECKS

from .environment_section import environment_section
from .machines import drift_section, machines_section
from .model import REFERENCE_BACKEND, REFERENCE_DTYPE, Report
from .plots import deviation_panels, identical, zigzag
from .text import code, md, printable, table, three_digits, two_digits


def markdown(report: Report) -> str:
    """The whole of report.md; its first line is the verdict."""
    out = [f"# {report.verdict_line()}", ""]
    if report.tolerances:
        out += ["Tolerances: " + "; ".join(md(line) for line in report.tolerance_lines()) + ".", ""]
    if report.errors:
        out += ["## Backends that failed to run", ""] + [f"- {md(e)}" for e in report.errors] + [""]
    if report.failed:
        out += ["## Failing checks", "", *_check_table(report.failed), ""]
    skipped = f", {len(report.skipped_checks)} skipped" if report.skipped_checks else ""
    out += [
        f"## Summary: {len(report.checks) - len(report.failed)} of {len(report.checks)} checks pass{skipped}",
        "",
        "Headroom is max abs difference / tolerance: below 1 passes, 0.01 is a hundred times room to spare. "
        "The tolerance is the derived rounding envelope (how far two correct implementations may differ "
        "through rounding alone; for costs, the envelope of the epoch where the ratio peaks) where the "
        "`tolerance is` column says derived, the spec's hand-set number where it says hand-set. "
        "The worst comparison of each check is shown.",
        "",
        *summary_table(report),
        *[line for text in skipped_lines(report) for line in ("", md(text))],
        "",
    ]
    if report.drift is not None:
        out += drift_section(report.drift)
    out += ["## Backends", "", *_backend_table(report), ""]
    out += ["## Deviation from the float64 NumPy reference", ""]
    if report.reference is None:
        out += [f"No reference trajectory: {md(report.reference_error)}", ""]
    else:
        out += [
            "The largest `|cost - reference cost|` over all epochs, for every run: information, not a check "
            "(float32 runs sit about float32 rounding away from it).",
            "",
            *_deviation_table(report),
            "",
        ]
    if report.hosts:
        out += machines_section(report)
    out += ["## Environment", "", *environment_section(report), ""]
    out += ["## Checks in detail", ""]
    for group, title, _, what in CHECK_GROUPS:
        cs = [c for c in report.checks if c.group == group]
        skipped_here = skipped_lines(report, group)
        if cs or skipped_here:
            out += [f"### {title}", "", f"{what}.", ""]
            out += [*_check_table(cs), ""] if cs else []
            out += [line for text in skipped_here for line in (md(text), "")]
    out += ["## Tolerances", "", *_tolerance_table(report), ""]
    out += ["## Plots", ""]
    files = report.plots.get("files", [])
    if files:
        out += [f"![{Path(f).stem}]({f})" for f in files] + [""]
        out += [*plots_text(report, files), ""]
    else:
        out += [f"Plots skipped: {printable(str(report.plots.get('skipped')))}.", ""]  # this machine's reason
    out += [
        f"Made by {code(' '.join(report.command))} on {md(report.started)} in {report.seconds:.1f} s. "
        "report.json has every number; junit.xml has one test case per check.",
        "",
    ]
    return "\n".join(out)


def plots_text(report: Report, files: list[str]) -> list[str]:
    """What the plots show, one paragraph per plot drawn."""
    out = []
    if "loss.png" in files:
        run = report.reference or report.runs[0]
        rises, most = zigzag(run.costs)
        band = (
            f"The grey band is not disagreement: it is the runs' lines themselves, the cost zigzagging from "
            f"one epoch to the next (in the {md(run.label)} {run.dtype} run the cost goes up at {rises} of its "
            f"{run.costs.size - 1} steps, by up to {most:.2g}), too fine to tell apart at this width. "
            if rises
            else "The cost falls at every epoch. "
        )
        expected = " and the spec's expected costs (x)" if report.spec.expected_costs else ""
        out.append(
            f"**loss.png**, left: every run's cost per epoch{expected}. {band}The runs lie on top of each other, "
            "their markers staggered so that each shows; how far apart they are is deviation.png's. Right: the "
            "last epochs, every point marked" + (", where the zigzag shows." if rises else ".")
        )
    if "deviation.png" in files:
        panels = deviation_panels(report)
        same = [dtype for dtype, diffs in panels if identical(diffs)]
        itself = any(run == REFERENCE_BACKEND and dtype == REFERENCE_DTYPE for dtype, d in panels for run, _ in d)
        bands = [
            f"{dtype}: {'the derived rounding envelope' if t.derived else 'the hand-set cost tolerance'}"
            for dtype, t in report.tolerances.items()
            if dtype in dict(panels) and not identical(dict(panels)[dtype])
        ]
        out.append(
            "**deviation.png**: each run's largest `|cost - reference cost|` so far (a running maximum over the "
            "epochs), log scale, one panel per dtype, over a grey band: how far two correct runs of that dtype may "
            "differ (" + ("; ".join(bands) or "none drawn") + "). A correct run's line stays inside its band. "
            f"The reference is the {REFERENCE_DTYPE} {REFERENCE_BACKEND} run of the lesson's loop; a run equal to it "
            "at every epoch is listed as identical"
            + (" (the reference itself is)." if itself else ".")
            + (f" Every {' and every '.join(same)} run is identical to the reference." if same else "")
        )
    return [line for text in out for line in (text, "")][:-1]


def skipped_lines(report: Report, group: str | None = None) -> list[str]:
    """One sentence per check that was skipped (in every dtype it was, or some), with the reason."""
    by_check: dict[tuple[str, str], list[str]] = {}
    for sk in report.skipped_checks:
        if group is None or sk.group == group:
            by_check.setdefault((sk.check, sk.reason), []).append(sk.dtype)
    return [f"Skipped: {check} ({', '.join(dtypes)}): {why}." for (check, why), dtypes in by_check.items()]


def summary_table(report: Report) -> list[str]:
    """One row per check and dtype: how many comparisons, the worst one, pass or fail; a check that
    was skipped (``Report.skipped_checks``) is a row that says so, its reason below the table."""
    seen: dict[tuple[str, str], list[Check]] = {}
    for c in report.checks:
        seen.setdefault((c.check, c.dtype), []).append(c)
    rows = []
    for (check, dtype), cs in seen.items():
        worst = max(cs, key=lambda c: (not c.passed, c.headroom if math.isfinite(c.headroom) else math.inf))
        nbad = sum(not c.passed for c in cs)
        same = all(c.max_abs == 0 for c in cs)  # no pair differs: no pair is the worst
        rows.append(
            [
                md(check),
                md(dtype),
                str(len(cs)),
                three_digits(worst.max_abs),
                three_digits(worst.tolerance),
                two_digits(worst.headroom),
                "all identical" if same else f"{md(worst.a)} vs {md(worst.b)}",
                worst.source,
                f"FAIL ({nbad})" if nbad else "pass",
            ]
        )
    rows += [[md(sk.check), md(sk.dtype), "0", "", "", "", "", "", "skipped"] for sk in report.skipped_checks]
    return table(
        [
            "check",
            "dtype",
            "compared",
            "worst max abs",
            "tolerance",
            "headroom",
            "worst pair",
            "tolerance is",
            "result",
        ],
        rows,
        "llrrrrlll",
    )


def _check_table(checks: Iterable[Check]) -> list[str]:
    rows = [
        [
            md(c.check),
            md(c.dtype),
            md(c.a),
            md(c.b),
            three_digits(c.max_abs),
            three_digits(c.max_rel),
            three_digits(c.tolerance),
            two_digits(c.headroom),
            c.source,
            "" if c.epoch is None else str(c.epoch),
            "pass" if c.passed else "**FAIL**",
        ]
        for c in checks
    ]
    return table(
        [
            "check",
            "dtype",
            "a",
            "b",
            "max abs",
            "max rel",
            "tolerance",
            "headroom",
            "tolerance is",
            "at epoch",
            "result",
        ],
        rows,
        "llllrrrrlrl",
    )


def _backend_table(report: Report) -> list[str]:
    rows = []
    for b in report.backends:
        r = b.run
        versions = ", ".join(f"{k} {v}" for k, v in r.versions.items()) if r and r.versions else ""
        runs = [t for t in report.runs if report.owner(t.label) == b.name]
        variants = ", ".join(r.variants) if r and r.variants else ""
        rows.append(
            [
                md(b.name),
                b.status if b.status != "failed" else "**failed**",
                md(b.device or ""),
                md(versions),
                md(variants),
                str(len(runs)),
                f"{r.seconds:.1f} s" if r else "",
                md(b.reason or b.note),
            ]
        )
    return table(["backend", "status", "device", "versions", "variants", "runs", "time", "note"], rows, "lllllrrl")


def _deviation_table(report: Report) -> list[str]:
    by_label = {(r.label, r.dtype): r for r in report.runs}
    rows = []
    for d, _ in report.deviations:
        r = by_label[(d.run, d.dtype)]
        final = float(r.costs[-1]) if r.costs.size else math.nan
        rows.append(
            [
                md(d.run),
                md(d.dtype),
                three_digits(d.max_abs),
                str(d.epoch),
                three_digits(d.max_rel),
                three_digits(d.final_abs),
                f"{final:.9g}",
                f"{r.accuracy:.4g}",
                f"{r.seconds:.2f} s",
            ]
        )
    return table(
        ["run", "dtype", "max abs", "at epoch", "max rel", "at the end", "final cost", "accuracy", "train time"],
        rows,
        "llrrrrrrr",
    )


def _derived_table(report: Report) -> list[str]:
    """The derived envelopes in force, one row per dtype that uses them."""
    held = [report.tolerances[d] for d in report.dtypes if d in report.tolerances and report.tolerances[d].derived]
    if not held:
        return []
    said = f" (times {report.tolerance_scale:g})" if report.tolerance_scale != 1 else ""
    lines = [
        f"Derived rounding envelopes{said}: how far two correct implementations may differ through rounding "
        "alone (Monte Carlo arithmetic on the float64 NumPy reference; docs/tolerances.md). The costs' envelope "
        "is per checkpoint of epochs; the table shows its smallest and largest.",
        "",
    ]
    rows = []
    for t in held:
        costs = [v for _, v in t.checkpoints]
        rows.append(
            [
                t.dtype,
                *(three_digits(t.forward[k]) for k in FORWARD_CHECKS),
                f"{three_digits(min(costs))} to {three_digits(max(costs))}",
                three_digits(t.params),
                md(t.origin),
            ]
        )
    lines += table(["dtype", *FORWARD_CHECKS, "costs", "params", "from"], rows, "lrrrrrrrl")
    return lines + [""] + [f"- {md(t.line())}" for t in held] + [""]


def _tolerance_table(report: Report) -> list[str]:
    spec, scale = report.spec, report.tolerance_scale
    said = f" (the spec's times {scale:g})" if scale != 1 else ""
    lines = _derived_table(report) + [
        f"Hand-set absolute tolerances from spec {code(spec.name)}{said} (the checks whose `tolerance is` says "
        "hand-set, and always `expected`). Accuracy: half a sample, so accuracies must be equal.",
        "",
    ]
    rows = []
    for d in report.dtypes:
        t = spec.tolerance(d)
        rows.append(
            [
                d,
                three_digits(t.output),
                three_digits(t.cost),
                three_digits(t.expected_cost),
                three_digits(t.param),
                three_digits(accuracy_tolerance(spec) * scale),
            ]
        )
    lines += table(["dtype", "softmax, losses (output)", "costs", "expected", "params", "accuracy"], rows, "lrrrrr")
    notes = [f"- {d}: {md(spec.tolerance(d).note)}" for d in report.dtypes if spec.tolerance(d).note]
    return lines + ([""] + notes if notes else [])
