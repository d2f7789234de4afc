"""The loss plot on the HTML page: every run's cost per epoch, and how far each is from NumPy's.

Drawn twice: wide (the two panels side by side, for a desktop) and narrow (stacked, for a phone,
its text sized to stay legible at 390 px). One legend for both panels, outside the data, under
them. Each run has its own colour, line style and marker shape; the markers of the right panel
are hollow and of different sizes, so where two runs give the same difference (JAX and its fused
loop often do) both stay visible, one inside the other. The right panel is the agreement report's
deviation plot in small: each run's largest difference so far over the grey band its cost is held to
(the derived envelope, or a hand-set tolerance).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from softmax_rosetta.envelopes import in_force
from softmax_rosetta.registry import REFERENCE_BACKEND

from . import columns
from .base import DTYPE, ORDER, SHORT, RosettaError
from .run import Rosetta

REFERENCE = REFERENCE_BACKEND  # the right panel shows each run's distance from this one


def _styles() -> dict[str, tuple[str, dict[str, Any], dict[str, Any]]]:
    """Each plotted run's (label, line, marker), from the backends' docs.toml ([plot]): its lesson loop,
    then its other runs ("jax fused": JAX's fused variant)."""
    out = {}
    for b in ORDER:
        line, marker = columns.plot_style(b)
        out[b] = (SHORT[b], line, marker)
        for variant, style in columns.plotted_runs(b).items():
            out[f"{b} {variant}"] = style
    return out


# (width, height) in inches, dots per inch, font size (points). The narrow one is shown about
# 360 CSS px wide on a 390 px phone: 4 inches there make 9-point text about 11 px high.
LAYOUTS = {"wide": ((11.5, 4.0), 100, 9), "narrow": ((4.0, 7.2), 200, 9)}


def loss_plot_png(rosetta: Rosetta, layout: str = "wide") -> bytes | None:
    """The backends' cost per epoch on the spec, overlaid, and their differences from NumPy's.

    layout: "wide" (side by side) or "narrow" (stacked)."""
    if not rosetta.costs:
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch
    except ImportError as exc:
        raise RosettaError(
            f"rosetta: the HTML page's plot needs matplotlib ({exc}): pip install 'softmax-rosetta[plot]'"
        ) from None
    spec = rosetta.spec
    size, dpi, font = LAYOUTS[layout]
    narrow = layout == "narrow"
    with plt.rc_context({"font.size": font, "axes.titlesize": font + 1, "legend.fontsize": font}):
        fig, (ax, dev) = plt.subplots(2 if narrow else 1, 1 if narrow else 2, figsize=size, dpi=dpi)
        handles: list[Any] = []
        styles = _styles()
        for key, costs in rosetta.costs.items():
            name, style, marker = styles.get(key, (key, {}, {}))
            ax.plot(np.arange(costs.size), costs, **style)
            handles.append(Line2D([], [], label=name, markerfacecolor="none", **{**style, **marker}))
        if spec.expected_costs:
            ax.plot(spec.expected_epochs, spec.expected_costs, "kx", markersize=7, zorder=5)
            handles.append(Line2D([], [], color="k", marker="x", linestyle="none", label="printed by the lesson"))
        title = f"Cost per epoch, spec {spec.name}, {DTYPE}"
        ax.set(xlabel="epoch", ylabel="cost (mean cross-entropy)", title=title)
        ref = rosetta.costs[REFERENCE].astype(np.float64)
        for key, costs in rosetta.costs.items():
            if key == REFERENCE:
                continue
            most = np.fmax.accumulate(np.abs(costs.astype(np.float64) - ref))  # the largest so far
            _, line, marker = styles.get(key, (key, {}, {}))
            style = {**line, **marker}
            style.update(markerfacecolor="none", markevery=max(most.size // 8, 1), alpha=1.0)
            dev.plot(np.arange(most.size), np.where(most > 0, most, np.nan), drawstyle="steps-post", **style)
        band, band_label = _band(spec, ref.size, short=narrow)
        x = np.arange(ref.size)
        floor = float(np.min(band)) / 300  # two decades and more below the band: where the lines are
        dev.fill_between(x, floor, band, step="post", color="0.88", zorder=0)
        dev.plot(x, band, drawstyle="steps-post", color="0.45", linewidth=1.0, zorder=1)
        handles.append(Patch(facecolor="0.88", edgecolor="0.45", label=band_label))
        dev.set_yscale("log")
        top = max([float(np.max(band)), *(float(np.max(d)) for d in _diffs(rosetta, ref))])
        dev.set_ylim(floor, top * 4)
        dev.set(xlabel="epoch", ylabel="largest |cost - NumPy's| so far", title="How far from NumPy's cost")
        for a in (ax, dev):
            a.grid(alpha=0.3)
        ncol = 2 if narrow else min(len(handles), 4)  # more entries go on a second row
        fig.legend(handles=handles, loc="lower center", ncol=ncol, frameon=False)
        rows = -(-len(handles) // ncol)
        fig.tight_layout(rect=(0, (0.2 + 0.19 * rows) / size[1], 1, 1))  # the legend's rows: about 0.19 in each
        buf = io.BytesIO()
        fig.savefig(buf, format="png", metadata={"Software": None})
        plt.close(fig)
    return buf.getvalue()


def _band(spec: Any, epochs: int, short: bool) -> tuple[np.ndarray, str]:
    """What the agreement report holds each epoch's cost to in the page's dtype: the derived rounding
    envelope (how far two correct runs may drift apart), or the spec's hand-set tolerance; and its label
    (``short``: to fit half a phone's width; the caption says the rest)."""
    held = in_force(spec, DTYPE)
    if held.derived:
        long = "how far rounding may take two correct runs (derived envelope)"
        return held.costs[:epochs], "derived envelope" if short else long
    tol = spec.tolerance(DTYPE).cost
    return np.full(epochs, tol), f"tolerance ({tol:g})" if short else f"tolerance, hand-set ({tol:g})"


def _diffs(rosetta: Rosetta, ref: np.ndarray) -> list[np.ndarray]:
    diffs = [np.abs(c.astype(np.float64) - ref) for k, c in rosetta.costs.items() if k != REFERENCE]
    return [d for d in diffs if (d > 0).any()]
