"""The loss plot on the HTML page: every run's cost per epoch, and how far each is from NumPy's.

Drawn twice: wide (the two panels side by side, for a desktop) and narrow (stacked, for a phone,
its text sized to stay legible at 390 px). One legend for both panels, outside the data, under
them. Each run has its own colour, line style and marker shape; the markers of the right panel
are hollow and of different sizes, so where two runs give the same difference (JAX and its fused
loop often do) both stay visible, one inside the other.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from .base import DTYPE, RosettaError
from .run import Rosetta

STYLES: dict[str, dict[str, Any]] = {
    "numpy": dict(color="#4d77cf", linestyle="-", linewidth=3.2, alpha=0.55),
    "torch": dict(color="#d04a2b", linestyle="--", linewidth=1.6),
    "jax": dict(color="#2f8a57", linestyle=":", linewidth=2.0),
    "jax fused": dict(color="#7a4fb0", linestyle=(0, (1, 3)), linewidth=1.2),
}
# The right panel's markers: hollow, largest first, so a smaller one shows inside a larger one.
MARKERS: dict[str, dict[str, Any]] = {
    "torch": dict(marker="o", markersize=6.5),
    "jax": dict(marker="s", markersize=4),
    "jax fused": dict(marker="+", markersize=3.5),
}
NAMES = {"numpy": "NumPy", "torch": "PyTorch", "jax": "JAX", "jax fused": "JAX, fused loop"}
REFERENCE = "numpy"  # the right panel shows each run's distance from this one
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
        for key, costs in rosetta.costs.items():
            style = STYLES.get(key, {})
            ax.plot(np.arange(costs.size), costs, **style)
            marker = MARKERS.get(key, {})
            handles.append(Line2D([], [], label=NAMES.get(key, key), markerfacecolor="none", **{**style, **marker}))
        if spec.expected_costs:
            ax.plot(spec.expected_epochs, spec.expected_costs, "kx", markersize=7, zorder=5)
            handles.append(Line2D([], [], color="k", marker="x", linestyle="none", label="printed by the lesson"))
        title = f"Cost per epoch, spec {spec.name}, {DTYPE}"
        ax.set(xlabel="epoch", ylabel="cost (mean cross-entropy)", title=title)
        ref = rosetta.costs[REFERENCE].astype(np.float64)
        for key, costs in rosetta.costs.items():
            if key == REFERENCE:
                continue
            diff = np.abs(costs.astype(np.float64) - ref)
            style = STYLES.get(key, {})
            dev.plot(
                np.arange(diff.size),
                np.where(diff > 0, diff, np.nan),
                linestyle="none",
                color=style.get("color"),
                markerfacecolor="none",
                markeredgewidth=0.8,
                **MARKERS.get(key, dict(marker=".", markersize=3)),
            )
        tol = spec.tolerance(DTYPE).cost
        dev.axhline(tol, color="gray", linestyle="-.", linewidth=1)
        handles.append(Line2D([], [], color="gray", linestyle="-.", linewidth=1, label=f"tolerance ({tol:g})"))
        dev.set_yscale("log")
        # room above the tolerance line, so no point sits under it
        low = np.nanmin([np.nanmin(np.where(d > 0, d, np.nan)) for d in _diffs(rosetta, ref)] + [tol])
        dev.set_ylim(low / 2, tol * 4)
        dev.set(xlabel="epoch", ylabel="|cost - NumPy's cost|", title="How far from NumPy (gaps: equal)")
        for a in (ax, dev):
            a.grid(alpha=0.3)
        fig.legend(handles=handles, loc="lower center", ncol=2 if narrow else len(handles), frameon=False)
        fig.tight_layout(rect=(0, 0.1 if narrow else 0.1, 1, 1))
        buf = io.BytesIO()
        fig.savefig(buf, format="png", metadata={"Software": None})
        plt.close(fig)
    return buf.getvalue()


def _diffs(rosetta: Rosetta, ref: np.ndarray) -> list[np.ndarray]:
    diffs = [np.abs(c.astype(np.float64) - ref) for k, c in rosetta.costs.items() if k != REFERENCE]
    return [d for d in diffs if (d > 0).any()]
