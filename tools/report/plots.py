"""loss.png and deviation.png: every run's cost per epoch, and its distance from the reference."""

from __future__ import annotations

import io
import textwrap
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
    for name, draw in (("loss.png", loss_figure), ("deviation.png", deviation_figure)):
        if name == "deviation.png" and report.reference is None:
            continue
        # names come from saved runs too: a "$" in a host label is a dollar sign, never TeX math
        with matplotlib.rc_context({"text.parse_math": False}):
            fig = draw(report, plt)
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=110)
            plt.close(fig)
        atomic_write(out / name, buf.getvalue())
        files.append(name)
    skipped = None if len(files) == 2 else f"deviation.png: no reference trajectory ({report.reference_error})"
    return {"files": files, "skipped": skipped}


def zigzag(costs: np.ndarray) -> tuple[int, float]:
    """How many epochs the cost rose from the epoch before, and by how much at most (0, 0.0 when it
    only fell): drawn epoch by epoch over the whole run, a cost that goes up and down fills a band."""
    steps = np.diff(np.asarray(costs, dtype=np.float64))
    rises = steps[steps > 0]
    return int(rises.size), float(rises.max()) if rises.size else 0.0


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


def loss_figure(report: Report, plt: Any) -> Any:
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
        # Every run's line in grey (they coincide; where the cost zigzags from epoch to epoch, the
        # line fills a band), then each run's markers above them all, staggered so that no run hides another.
        ax.plot(
            x,
            y,
            linewidth=0.6,
            color="0.6",
            label="every run, epoch by epoch\n(a band where the cost\nzigzags up and down)" if i == 0 else None,
        )
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


def deviation_panels(report: Report) -> list[tuple[str, list[tuple[str, np.ndarray]]]]:
    """deviation.png's panels: one per dtype of the report, each [(run label, |cost - reference
    cost| per epoch)] for that dtype's runs (the reference itself included: zeros)."""
    return [(dtype, [(d.run, diff) for d, diff in report.deviations if d.dtype == dtype]) for dtype in report.dtypes]


def identical(diffs: list[tuple[str, np.ndarray]]) -> bool:
    """Whether every run's cost equals the reference's at every epoch (and there is a run)."""
    return bool(diffs) and all(diff.size and not np.any(diff) for _, diff in diffs)


def envelope_of(report: Report, dtype: str, epochs: int) -> tuple[np.ndarray, str]:
    """(the cost envelope per epoch, its name) for ``dtype``'s panel: the derived envelope where the report's
    checks used it, else the spec's hand-set cost tolerance, flat."""
    held = report.tolerances.get(dtype) if hasattr(report, "tolerances") else None
    if held is not None and held.derived and held.checkpoints and held.checkpoints[-1][0] == epochs - 1:
        origin = "stored in the spec" if held.origin == "stored" else "derived now"
        return held.costs, f"rounding envelope\n({origin})"
    tol = report.spec.tolerance(dtype).cost * report.tolerance_scale
    return np.full(epochs, tol), f"hand-set cost\ntolerance ({tol:g})"


def _power_of_ten(value: float, _: Any = None) -> str:
    """A log axis' tick, 1e-07 as 10⁻⁷ (plain text: the report turns TeX math off, for names from saved runs)."""
    if value <= 0:
        return ""
    exponent = np.log10(value)
    if abs(exponent - round(exponent)) > 1e-9:
        return ""
    digits = str(int(round(exponent))).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))
    return f"10{digits}"


def deviation_figure(report: Report, plt: Any) -> Any:
    """One panel per dtype, drawn to be read on a phone (about 390 px wide) as well as a screen: each run's
    largest |cost - reference cost| so far (a running maximum, one line per run, not a point per epoch),
    on a log scale, over the band its checks allow (``envelope_of``: the derived envelope per epoch, or the
    hand-set tolerance). A run equal to the reference at every epoch is listed as identical; a panel where
    every run is shows them at 0, on a plain scale, and says "identical"."""
    import matplotlib.ticker as ticker

    panels = deviation_panels(report)
    with plt.rc_context({"font.size": 13}):
        fig, axes = plt.subplots(len(panels), 1, figsize=(5.6, 0.9 + 4.6 * len(panels)), squeeze=False)
        epochs = max((diff.size for _, diffs in panels for _, diff in diffs), default=1)
        for ax, (dtype, diffs) in zip(axes[:, 0], panels, strict=True):
            _deviation_panel(report, ax, dtype, diffs)
            ax.set_xlim(0, max(epochs - 1, 1))
            ax.grid(alpha=0.3, which="major")
            ax.set_xlabel("epoch")
            if ax.get_yscale() == "log":
                ax.yaxis.set_major_formatter(ticker.FuncFormatter(_power_of_ten))
                ax.yaxis.set_minor_formatter(ticker.NullFormatter())
        fig.suptitle(f"Each run's cost against the reference's\n(spec {report.spec.name})", fontsize=14)
        fig.tight_layout()
    return fig


def _deviation_panel(report: Report, ax: Any, dtype: str, diffs: list[tuple[str, np.ndarray]]) -> None:
    reference = f"{REFERENCE_BACKEND} {REFERENCE_DTYPE}"
    runs = {(r.label, r.dtype): r for r in report.runs}
    markers = _markers(report)
    same = identical(diffs)
    for i, (run, diff) in enumerate(diffs):
        style = _style(runs[(run, dtype)], i, markers)
        style.update(marker="none", linewidth=2.0 if style["linestyle"] == "-" else 2.4, alpha=0.9)
        label = f"{run} {dtype}"
        if diff.size and not np.any(diff):
            label += ": the reference itself" if label == reference else ": identical at every epoch"
            if not same:  # a log scale has no 0: the legend says it
                ax.plot([], [], label=label, linestyle="none", marker="none")
                continue
        most = np.fmax.accumulate(np.where(np.isfinite(diff), diff, np.inf)) if diff.size else diff
        shown = most if same else np.where(most > 0, most, np.nan)
        ax.plot(np.arange(diff.size), shown, label=label, drawstyle="steps-post", **style)
    if same:
        ax.set(ylim=(-1, 1), yticks=[0], ylabel="|cost - reference cost|")
        ax.set_title(f"{dtype}: identical to the reference ({reference}) at every epoch", fontsize=12, wrap=True)
        words = f"identical: every {dtype} run's cost\nequals the reference's, at every epoch"
        ax.text(0.5, 0.72, words, transform=ax.transAxes, ha="center", va="center", fontsize=12)
    elif not diffs:
        ax.set_yticks([])
        ax.set_title(f"{dtype}: no run to compare", fontsize=13)
    else:
        epochs = max(diff.size for _, diff in diffs)
        envelope, name = envelope_of(report, dtype, epochs)
        x = np.arange(epochs)
        floor = float(np.min(envelope)) / 300  # two decades and more below the band: where the lines are
        ax.fill_between(x, floor, envelope, step="post", color="0.85", zorder=0, label=name)
        ax.plot(x, envelope, drawstyle="steps-post", color="0.45", linewidth=1.2, zorder=1)
        top = max([float(np.max(envelope)), *(float(np.nanmax(d)) for _, d in diffs if np.any(np.isfinite(d)))])
        ax.set_yscale("log")
        ax.set_ylim(floor, top * 8)
        ax.set_ylabel("largest |cost − reference|\nso far")
        ax.set_title(f"{dtype}: a correct run stays in the grey band", fontsize=13)
    if diffs:
        # below the panel, in two columns where the names are short (a phone's width holds two of them)
        handles, labels = ax.get_legend_handles_labels()
        labels = ["\n".join(textwrap.fill(line, 34) for line in label.split("\n")) for label in labels]
        ax.legend(
            handles,
            labels,
            fontsize=11,
            loc="upper center",
            bbox_to_anchor=(0.45, -0.22),
            ncol=2 if max(len(line) for label in labels for line in label.split("\n")) <= 24 else 1,
            title=f"reference: {reference}",
            title_fontsize=11,
            frameon=False,
            handlelength=1.6,
            columnspacing=1.0,
        )
