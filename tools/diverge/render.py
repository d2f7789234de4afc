"""What ``diverge`` prints, and the plot it leaves in the report folder: one ``Divergence``, rendered."""

from __future__ import annotations

import io
import os
from typing import Any

import numpy as np

from ..files import atomic_write
from .analysis import CHECKED, Divergence
from .sources import describe_steps

TABLE_ROWS = 8  # evenly spaced steps in the growth table, besides the first difference and the leaving step
COLORS = {"loss:fused": "#0072B2", "softmax": "#D55E00", "weight": "#009E73", "bias": "#CC79A7"}  # Okabe-Ito


def text(d: Divergence, title: str) -> str:
    lines = [title]
    if d.first is None:
        lines.append(f"bit-identical: every quantity of every compared step ({len(d.steps)}) has the same bits")
        return "\n".join(lines) + "\n"
    f = d.first
    lines.append(
        f"first difference: step {f.step} (epoch {f.epoch}), {f.quantity}: {f.differing} of {f.size} elements differ, "
        f"at most {_ulps(f.max_ulps)} (|a - b| <= {f.max_abs:.3g})"
    )
    if d.note:
        lines.append(f"  note: {d.note}")
    e = d.explanation
    if e is not None:
        cause = f"cause: {e.cause}" if e.cause else "cause not identified"
        lines.append(f"  {cause}: {e.detail}")
    elif "cause not examined" not in d.note:
        lines.append("  cause not identified")
    ratio = d.ratio()
    worst = int(np.argmax(ratio))
    if d.leaves is None:
        lines.append(
            f"envelope: every checked difference stays within it (at most {_ratio(ratio[worst])} of it, at step "
            f"{int(d.steps[worst])}); envelope: {d.envelope.source}"
        )
    else:
        v = d.leaves
        lines.append(
            f"leaves the envelope: step {v.step} (epoch {v.epoch}), {v.quantity}: |a - b| = {v.max_abs:.3g}, "
            f"over its envelope {v.envelope:.3g} ({_ratio(v.max_abs / v.envelope)} times it); "
            f"envelope: {d.envelope.source}"
        )
    lines.append("how the difference grows (largest |a - b| of each quantity; ulps: the largest of all quantities):")
    lines += growth_table(d)
    return "\n".join(lines) + "\n"


def table_rows(d: Divergence) -> list[int]:
    """Indices into d.steps: evenly spaced ones, the first difference and the first step over the envelope."""
    n = len(d.steps)
    picks = {int(round(i)) for i in np.linspace(0, n - 1, min(n, TABLE_ROWS))}
    for step in (d.first.step if d.first else None, d.leaves.step if d.leaves else None):
        if step is not None:
            picks.add(int(np.searchsorted(d.steps, step)))
    return sorted(picks)


def growth_table(d: Divergence) -> list[str]:
    columns = ("logits", "softmax", "loss:fused", "grad_weight", "weight", "bias")
    head = f"  {'step':>6} {'epoch':>6} " + " ".join(f"{c:>11}" for c in columns) + f" {'ulps':>9} {'/envelope':>9}"
    rows = [head]
    ratio = d.ratio()
    all_ulps = np.max([d.max_ulps[q] for q in d.max_ulps], axis=0)
    for i in table_rows(d):
        cells = " ".join(f"{d.max_abs[c][i]:11.3g}" for c in columns)
        rows.append(f"  {int(d.steps[i]):>6} {int(d.epochs[i]):>6} {cells} {all_ulps[i]:9.3g} {_ratio(ratio[i]):>9}")
    rows.append("  (/envelope: the largest |a - b| over its envelope of " + ", ".join(CHECKED) + ")")
    return rows


def _ulps(v: float) -> str:
    return "NaN on one side" if not np.isfinite(v) else f"{v:.0f} ulp{'s' if v != 1 else ''}"


def _ratio(v: float) -> str:
    return f"{v:.2g}" if np.isfinite(v) else str(v)


def header(d: Divergence, origins: tuple[str, str]) -> str:
    """The first line: what was compared (a run traced here, or a file: its label names it)."""
    a, b = (
        f"{label}{' (traced here)' if origin == 'traced here' else ''}"
        for label, origin in zip((d.a, d.b), origins, strict=True)
    )
    return (
        f"# softmax-rosetta diverge: A {a} against B {b}; spec {d.spec}, {d.dtype}, {describe_steps(d.steps.tolist())}"
    )


def write_plot(d: Divergence, path: str) -> str | None:
    """The plot of the difference's growth at ``path``; None when written, else why it was skipped."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception as exc:  # ImportError, or a broken install
        return (
            f"matplotlib is not available ({type(exc).__name__}: {exc}); pip install 'softmax-rosetta[plot]' to draw it"
        )
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    dots = len(d.steps) < 60
    for q, color in COLORS.items():
        so_far = np.fmax.accumulate(d.max_abs[q])  # a running maximum: 1000 noisy points made readable
        ax.plot(
            d.steps, np.where(so_far > 0, so_far, np.nan), color=color, lw=1.4, label=q, marker="." if dots else None
        )
    envelopes = {
        "loss:fused": "cost envelope (per epoch)",
        "softmax": "softmax envelope (step 0)",
        "weight": "weight, bias envelope",
    }
    for q, label in envelopes.items():
        bound = np.where(np.isfinite(d.bounds[q]), d.bounds[q], np.nan)
        ax.plot(
            d.steps, bound, color=COLORS[q], lw=1.0, ls="--", label=label, marker="_" if q == "softmax" else None, ms=12
        )
    if d.first is not None:
        ax.axvline(d.first.step, color="0.5", lw=0.8, ls=":", label=f"first difference (step {d.first.step})")
    if d.leaves is not None:
        ax.axvline(d.leaves.step, color="#E69F00", lw=1.2, label=f"leaves the envelope (step {d.leaves.step})")
    if np.any([np.any(d.max_abs[q] > 0) for q in COLORS]):
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("largest |a - b| so far")
    title = f"{d.a} against {d.b}: {d.spec}, {d.dtype}".replace("$", r"\$")  # a file name's $ is no TeX
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write(path, buf.getvalue())
    return None


def report_name(d: Divergence) -> str:
    """``A-against-B-SPEC-DTYPE``, each part a file-name slug."""
    from ..report.saved_runs.identity import slug

    return "-".join(slug(p, 60) or "run" for p in (d.a, "against", d.b, d.spec, d.dtype))


def write_report(d: Divergence, out: str, data: dict[str, Any], plot: bool = True) -> tuple[list[str], str | None]:
    """``NAME.json`` (what --json prints) and ``NAME.png`` in ``out``; (files written, why the plot was skipped)."""
    import json

    name = report_name(d)
    written = [os.path.join(out, f"{name}.json")]
    atomic_write(written[0], json.dumps(data, indent=1) + "\n")
    skipped = write_plot(d, os.path.join(out, f"{name}.png")) if plot else "bit-identical: nothing to plot"
    if skipped is None:
        written.append(os.path.join(out, f"{name}.png"))
    return written, skipped
