"""``bench --workers``'s results as text (the terminal) and as Markdown (docs/benchmarks.md)."""

from __future__ import annotations

from typing import Any

from .report import SPREAD_LIMIT, _time, busy_reasons, markdown_header

HEADER = [
    "backend",
    "K",
    "threads / worker",
    "median / epoch",
    "min",
    "max",
    "runs",
    "launch + setup",
    "speedup",
    "efficiency",
]


def _spread(r: dict[str, Any]) -> float:
    if not r.get("ok") or r["min_per_epoch"] <= 0:
        return 1.0 if not r.get("ok") else float("inf")
    return float(r["max_per_epoch"]) / float(r["min_per_epoch"])


def _outside(seconds: float) -> str:
    return _time(seconds) if seconds > 0 else "0 s"  # the JSON has it to the nanosecond, sign included


def reasons(result: dict[str, Any]) -> list[str]:
    """Why the numbers may not mean much: the load before and after (``report.busy_reasons``), and
    each run whose repeats spread more than ``SPREAD_LIMIT`` times."""
    out = busy_reasons({**result, "runs": []})
    for r in result["runs"]:
        if _spread(r) > SPREAD_LIMIT:
            out.append(
                f"{r['workload']}: {r['backend']} x{r['workers']}: repeats from {_time(r['min_per_epoch'])} "
                f"to {_time(r['max_per_epoch'])} per epoch ({_spread(r):.1f}x)"
            )
    return out


def table_rows(result: dict[str, Any], wl: dict[str, Any]) -> list[list[str]]:
    """One workload's rows: each (backend, K), then each backend that trains in one process."""
    rows = []
    for r in result["runs"]:
        if r["workload"] != wl["name"]:
            continue
        if not r.get("ok"):
            rows.append([r["backend"], str(r["workers"]), "", "failed: " + r.get("error", "")[:80], *[""] * 6])
            continue
        mark = " *" if _spread(r) > SPREAD_LIMIT else ""
        rows.append(
            [
                r["backend"],
                str(r["workers"]),
                str(r["threads_per_worker"]),
                _time(r["median_per_epoch"]),
                _time(r["min_per_epoch"]),
                _time(r["max_per_epoch"]),
                str(r["repeats"]),
                "-" if r["workers"] == 1 else _outside(r["outside_loop_seconds"]),
                f"{r['speedup']:.2f}x" if "speedup" in r else "",
                f"{r['efficiency']:.2f}{mark}" if "efficiency" in r else "",
            ]
        )
    for name in result["not_data_parallel"]:
        rows.append([name, "-", "", "not timed: trains in one process (no data_parallel)", *[""] * 6])
    return rows


def notes(result: dict[str, Any]) -> list[str]:
    """How the table was measured, in a few sentences."""
    k0 = min(result["workers"])
    t = result["threads_per_worker"]
    return [
        f"{t} thread(s) per worker at every K: K workers run in a process pinned to K x {t} CPU(s), with K x {t} "
        "threads in its pools, shared among its workers.",
        "K = 1: the backend's own single-process lesson loop, the whole call over its steps; K > 1: the "
        "data-parallel loop timed inside, from epoch 1's start to the last epoch's, in its slowest process "
        "(no launch, no first step); launch + setup: the rest of each call (median).",
        f"speedup = t({k0}) / t(K); efficiency = {'' if k0 == 1 else f'{k0} '}t({k0}) / (K t(K)), "
        "from the medians per epoch.",
    ]


def header_line(result: dict[str, Any]) -> str:
    m = result["machine"]
    return (
        f"softmax-rosetta bench --workers {','.join(map(str, result['workers']))}: the {result['variant']}'s loop, "
        f"data parallel, {result['device']}, {result['dtype']}, {result['threads_per_worker']} thread(s) per worker"
        + (" (--quick)" if result["quick"] else "")
        + f"; machine: {m.get('cpu', '?')}, {m.get('nproc')} CPUs, {m.get('ram_gib', '?')} GiB"
    )


def text_report(result: dict[str, Any]) -> str:
    """The tables for a terminal."""
    out = [
        header_line(result),
        f"load average before / after: {result['load_before']} / {result['load_after']}",
        "",
    ]
    busy = reasons(result)
    if busy:
        out += ["WARNING: the machine was busy: these numbers may not mean much; rerun on a quiet machine"]
        out += [*(f"  - {r}" for r in busy), ""]
    for wl in result["workloads"]:
        out.append(workload_line(wl))
        rows = table_rows(result, wl)
        timed = [row for row in rows if row[2]]  # the others say why in one cell, which sets no width
        widths = [max(len(x) for x in col) for col in zip(HEADER, *timed, strict=True)]
        for row in (HEADER, *rows):
            cells = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
            out.append("  " + "  ".join(cells if row[2] else [*cells[:2], row[3]]).rstrip())
        out.extend(_footnotes(rows, wl, "  "))
        out.append("")
    out.extend(notes(result))
    return "\n".join(out)


def markdown_report(result: dict[str, Any]) -> str:
    """The results as Markdown: the tables, the machine, how they were measured and the command."""
    out = markdown_header(result)
    out.append(f"- load average before / after: {result['load_before']} / {result['load_after']}")
    out.extend(f"- {line}" for line in notes(result))
    out.append("")
    busy = reasons(result)
    if busy:
        out += ["**The machine was busy: these numbers may not mean much.**", "", *(f"- {r}" for r in busy), ""]
    for wl in result["workloads"]:
        out += [f"**{workload_line(wl)}**", ""]
        out.append("| " + " | ".join(HEADER) + " |")
        out.append("|---|" + "|".join(["---:"] * (len(HEADER) - 1)) + "|")
        out.extend("| " + " | ".join(row) + " |" for row in table_rows(result, wl))
        out.append("")
        out.extend(line.replace("*:", "\\*:") for line in _footnotes(table_rows(result, wl), wl, ""))
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def _footnotes(rows: list[list[str]], wl: dict[str, Any], indent: str) -> list[str]:
    out = []
    if any(row[-1].endswith("*") for row in rows):
        out.append(f"{indent}*: its repeats spread more than {SPREAD_LIMIT:g}x: the efficiency is not reliable")
    if "final_cost_spread" in wl:
        out.append(f"{indent}final cost {wl['final_cost']:.6g} at every K, within {wl['final_cost_spread']:.1e}")
    return out


def workload_line(wl: dict[str, Any]) -> str:
    shape = f"{wl['n']:,} x {wl['d']} -> {wl['c']}"
    return f"{wl['name']}: {wl['title']}, {shape}, {wl['epochs']} epochs ({wl['steps']} steps)"
