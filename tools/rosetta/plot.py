"""The loss plot on the HTML page: every run's cost per epoch, and how far each is from NumPy's."""

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
NAMES = {"numpy": "NumPy", "torch": "PyTorch", "jax": "JAX", "jax fused": "JAX, fused loop"}
REFERENCE = "numpy"  # the right panel shows each run's distance from this one


def loss_plot_png(rosetta: Rosetta) -> bytes | None:
    """The three backends' cost per epoch on the spec, overlaid, and their differences from NumPy's."""
    if not rosetta.costs:
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise RosettaError(
            f"rosetta: the HTML page's plot needs matplotlib ({exc}): pip install 'softmax-rosetta[plot]'"
        ) from None
    spec = rosetta.spec
    fig, (ax, dev) = plt.subplots(1, 2, figsize=(11.5, 3.4), dpi=100, gridspec_kw={"width_ratios": [1, 1]})
    for key, costs in rosetta.costs.items():
        ax.plot(np.arange(costs.size), costs, label=NAMES.get(key, key), **STYLES.get(key, {}))
    if spec.expected_costs:
        ax.plot(spec.expected_epochs, spec.expected_costs, "kx", markersize=7, label="printed by the lesson")
    ax.set(xlabel="epoch", ylabel="cost (mean cross-entropy)", title=f"Cost per epoch, spec {spec.name}, {DTYPE}")
    ax.legend(fontsize=8)
    ref = rosetta.costs[REFERENCE].astype(np.float64)
    for key, costs in rosetta.costs.items():
        if key == REFERENCE:
            continue
        diff = np.abs(costs.astype(np.float64) - ref)
        dev.plot(
            np.arange(diff.size),
            np.where(diff > 0, diff, np.nan),
            label=NAMES.get(key, key),
            **{**STYLES.get(key, {}), "linestyle": "none", "marker": ".", "markersize": 2},
        )
    tol = spec.tolerance(DTYPE).cost
    dev.axhline(tol, color="gray", linestyle="-.", linewidth=1)
    dev.annotate(
        f"tolerance between two backends ({tol:g})",
        (0, tol),
        xytext=(4, -11),
        textcoords="offset points",
        fontsize=8,
        color="dimgray",
    )
    dev.set_yscale("log")
    dev.set(xlabel="epoch", ylabel="|cost - NumPy's cost|", title="How far from NumPy (gaps: exactly equal)")
    dev.legend(fontsize=8, markerscale=5, loc="lower right")
    for a in (ax, dev):
        a.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()
