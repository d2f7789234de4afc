"""The benchmark's targets, checked on every run: missed ones are reported, never failed (speed
on a shared machine is measured, not asserted)."""

from __future__ import annotations

from typing import Any

# Every fast path (a variant in its backend's ``fast_variants``): median per epoch <= bound x the floor.
FLOOR_TARGETS = (("L", 3.0), ("M", 5.0))
# The best fast path of a workload (the fastest of them): median per epoch <= bound x the floor.
BEST_TARGETS = (("L", 2.0), ("M", 3.0))
# Per-step overhead at T: the median per epoch of BASELINE / this variant's >= bound.
BASELINE = ("torch", "lesson")
SPEEDUP_TARGETS = (
    ("T", "jax", "fast", 20.0),
    ("T", "jax", "fused", 20.0),
    ("T", "numpy", "fast", 5.0),
    ("T", "torch", "fast", 3.0),
)


def check_targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target whose runs are in ``result``: its value, whether it is met, and a line saying
    by how much it was missed."""
    ok = [r for r in result["runs"] if r.get("ok")]
    runs = {(r["workload"], r["backend"], r["variant"]): r for r in ok}
    floors = {w["name"]: w["floor_s"] for w in result["workloads"]}
    out = []
    for wl, bound in FLOOR_TARGETS:
        if wl not in floors:
            continue
        for run in (r for r in ok if r["workload"] == wl and r.get("fast")):
            value = run["median_per_epoch"] / floors[wl]
            text = f"{wl} {run['backend']} {run['variant']}: {value:.2f}x the floor (target <= {bound:g}x)"
            out.append(_target(run, "floor", bound, value, value <= bound, text, value / bound))
    for wl, bound in BEST_TARGETS:
        fast = [r for r in ok if r["workload"] == wl and r.get("fast")]
        if wl not in floors or not fast:
            continue
        run = min(fast, key=lambda r: r["median_per_epoch"])
        value = run["median_per_epoch"] / floors[wl]
        text = f"{wl} best fast path ({run['backend']} {run['variant']}): {value:.2f}x the floor (target <= {bound:g}x)"
        out.append(_target(run, "best", bound, value, value <= bound, text, value / bound))
    for wl, backend, variant, bound in SPEEDUP_TARGETS:
        run, base = runs.get((wl, backend, variant)), runs.get((wl, *BASELINE))
        if wl not in floors or run is None or base is None:
            continue
        value = base["median_per_epoch"] / run["median_per_epoch"]
        text = (
            f"{wl} {backend} {variant}: {value:.1f}x faster per epoch than {' '.join(BASELINE)} (target >= {bound:g}x)"
        )
        out.append(_target(run, "speedup", bound, value, value >= bound, text, bound / value))
    return out


def _target(
    run: dict[str, Any], kind: str, bound: float, value: float, met: bool, text: str, missed_by: float
) -> dict[str, Any]:
    if not met:
        text += f": missed by {missed_by:.2f}x"
    return {
        "workload": run["workload"],
        "backend": run["backend"],
        "variant": run["variant"],
        "kind": kind,
        "bound": bound,
        "value": value,
        "met": met,
        "text": text,
    }
