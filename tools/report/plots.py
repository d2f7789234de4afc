"""loss.png and deviation.png: every run's cost per epoch, and its distance from the reference."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from softmax_rosetta.registry import BACKENDS
from softmax_rosetta.results import TrainResult

from ..files import atomic_write
from .model import REFERENCE_BACKEND, REFERENCE_DTYPE, Report

# Okabe-Ito colours (told apart with colour-blindness too): one per backend, in the registry's
# order; one marker per variant, the lesson's first, the others in the order they appear;
# float32 filled, float64 hollow.
COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
MARKERS = ("o", "^", "s", "D", "v", "P", "X", "<", ">", "h")


def write_plots(report: Report, out: Path) -> dict[str, Any]:
    """loss.png and deviation.png; {"files": [...], "skipped": reason or None}."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception as exc:  # ImportError, or a broken install
        return {
            "files": [],
            "skipped": f"matplotlib is not available ({type(exc).__name__}: {exc}); "
            "pip install 'softmax-rosetta[plot]' to draw them",
        }
    if not report.runs:
        return {"files": [], "skipped": "no backend returned a training run"}
    files = []
    for name, draw in (("loss.png", _plot_loss), ("deviation.png", _plot_deviation)):
        if name == "deviation.png" and report.reference is None:
            continue
        fig = draw(report, plt)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110)
        plt.close(fig)
        atomic_write(out / name, buf.getvalue())
        files.append(name)
    skipped = None if len(files) == 2 else f"deviation.png: no reference trajectory ({report.reference_error})"
    return {"files": files, "skipped": skipped}


def _color(backend: str, i: int) -> str:
    names = list(BACKENDS)
    return COLORS[names.index(backend) % len(COLORS)] if backend in names else f"C{4 + i % 5}"


def _markers(report: Report) -> dict[str, str]:
    variants = dict.fromkeys(["lesson", *(r.variant for r in report.runs)])
    return {v: MARKERS[i % len(MARKERS)] for i, v in enumerate(variants)}


def _style(r: TrainResult, i: int, markers: dict[str, str], markevery: Any = None) -> dict[str, Any]:
    """Colour: the backend. Marker: the variant. Filled: float32, hollow: float64. Lines: the lesson
    variant solid, others dotted."""
    return {
        "color": _color(r.backend, i),
        "marker": markers[r.variant],
        "fillstyle": "none" if r.dtype == "float64" else "full",
        "linestyle": "-" if r.variant == "lesson" else ":",
        "markevery": markevery,
        "alpha": 0.85,
    }


def _plot_loss(report: Report, plt: Any) -> Any:
    """Left: the whole trajectory. Right: the last epochs, every point marked, so that curves lying
    on top of each other (they agree to 1e-7) still show every backend."""
    fig, (ax, zoom) = plt.subplots(1, 2, figsize=(12.5, 5.2), gridspec_kw={"width_ratios": [3, 2]})
    n = len(report.runs)
    epochs = max(r.costs.size for r in report.runs)
    last = max(0, epochs - 12)
    markers = _markers(report)
    for i, r in enumerate(report.runs):
        x, y = np.arange(r.costs.size), r.costs.astype(np.float64)
        name = f"{r.label} {r.dtype}"
        step = max(1, r.costs.size // 10)
        style = _style(r, i, markers)
        # Every run's line in grey (they coincide: the cost zigzags from epoch to epoch), then each
        # run's markers above them all, staggered so that no run hides another.
        ax.plot(x, y, linewidth=0.6, color="0.6", label="every run, every epoch" if i == 0 else None)
        every = slice(min(step - 1, int((i + 0.5) * step / max(1, n))), None, step)
        ax.plot(x[every], y[every], label=name, markersize=6, zorder=3, **{**style, "linestyle": "none"})
        dodge = 0.5 * (i - (n - 1) / 2) / max(1, n)  # side by side, so no run hides another
        zoom.plot(
            x[last:] + dodge, y[last:], label=name, linewidth=0.8, markersize=6, **_style(r, i, markers, markevery=1)
        )
    spec = report.spec
    if spec.expected_costs:
        ax.plot(
            spec.expected_epochs,
            spec.expected_costs,
            linestyle="none",
            marker="x",
            color="black",
            markersize=9,
            label="the spec's expected costs",
            zorder=5,
        )
        inside = [(e, c) for e, c in zip(spec.expected_epochs, spec.expected_costs, strict=True) if e >= last]
        if inside:
            zoom.plot(*zip(*inside, strict=True), linestyle="none", marker="x", color="black", markersize=12, zorder=5)
    ax.set(xlabel="epoch", ylabel="cost (mean cross-entropy)", title=f"Cost per epoch, spec {spec.name}")
    zoom.set(xlabel="epoch (runs drawn side by side)", title=f"The last {epochs - last} epochs, every point marked")
    zoom.ticklabel_format(axis="y", useOffset=False)
    for a in (ax, zoom):
        a.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(
        handles,
        labels,
        loc="upper left",
        bbox_to_anchor=(0.825, 0.93),
        fontsize=8,
        title_fontsize=8,
        title="the runs coincide;\ntheir markers are staggered",
    )
    fig.tight_layout(rect=(0, 0, 0.825, 1))
    return fig


def _plot_deviation(report: Report, plt: Any) -> Any:
    fig, ax = plt.subplots(figsize=(13, 5.2))
    series = [
        (d, diff) for d, diff in report.deviations if (d.run, d.dtype) != (REFERENCE_BACKEND, REFERENCE_DTYPE)
    ]  # the reference against itself: zeros
    runs = {(r.label, r.dtype): r for r in report.runs}
    markers = _markers(report)
    zeros = False
    for i, (d, diff) in enumerate(series):
        r = runs[(d.run, d.dtype)]
        zeros |= bool(np.any(diff == 0))
        style = _style(r, i, markers)
        style.update(marker=".", markersize=2.5, fillstyle="full", linewidth=0.7)
        ax.plot(np.arange(diff.size), np.where(diff > 0, diff, np.nan), label=f"{d.run} {d.dtype}", **style)
    tolerances: dict[float, list[str]] = {}
    for dtype in report.dtypes:
        tolerances.setdefault(report.spec.tolerance(dtype).cost, []).append(dtype)
    for k, (tol, dtypes) in enumerate(sorted(tolerances.items())):
        ax.axhline(tol, color="gray", linestyle=("-.", (0, (6, 3)))[k % 2], linewidth=1)
        ax.annotate(
            f"cost tolerance between two {' or two '.join(dtypes)} runs ({tol:g})",
            (0, tol),
            xytext=(4, 3),
            textcoords="offset points",
            fontsize=8,
            color="dimgray",
        )
    ax.set_yscale("log")
    ax.set(
        xlabel="epoch",
        ylabel="|cost - reference cost|",
        title=f"Distance from the float64 NumPy run's cost, per epoch (spec {report.spec.name})"
        + ("; gaps: exactly equal" if zeros else ""),
    )
    ax.grid(alpha=0.3, which="major")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), markerscale=3)
    fig.tight_layout()
    return fig
