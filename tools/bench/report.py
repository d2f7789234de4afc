"""The benchmark's results as text (the terminal) and as Markdown (docs/benchmarks.md)."""

from __future__ import annotations

import math
from typing import Any

# When the numbers stop meaning much. The load average (over the last minute) of other work, per
# CPU, before or after the run: above BUSY_LOAD, other processes took CPUs the benchmark wanted
# (after the run, the benchmark's own threads are subtracted). A variant whose slowest repeat took
# more than SPREAD_LIMIT times its fastest (the slowest tenth of its repeats left out, with ten or
# more) was interrupted: its median, and the ratio from it, can't be trusted. On a quiet machine
# repeats stay well within that (docs/benchmarks.md).
BUSY_LOAD = 0.75
SPREAD_LIMIT = 2.0


def _time(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def _bytes(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} B"


def _rate(value: float, unit: str) -> str:
    return f"{value / 1e9:.1f} G{unit}/s"


def summary_lines(result: dict[str, Any]) -> list[str]:
    """The header: device, threads, floor, load."""
    f = result["floor"]
    lines = [
        f"softmax-rosetta bench: {result['device']}, float32, {result['threads']} thread(s)"
        + (" (--quick)" if result["quick"] else "")
        + f"; machine: {result['machine'].get('cpu', '?')}, {result['machine'].get('nproc')} CPUs,"
        f" {result['machine'].get('ram_gib', '?')} GiB",
        f"floor: memory read {_rate(f['bandwidth'], 'B')} ({f['bandwidth_method']}), float32 matmul "
        f"{_rate(f['matmul_rate'], 'FLOP')} (sgemm {f['matmul_n']}), the better of "
        + " and ".join(
            f"{_rate(m['bandwidth'], 'B')}, {_rate(m['matmul_rate'], 'FLOP')}" for m in f.get("measured", [])
        )
        + " measured before and after; load average before / after: "
        f"{result['load_before']} / {result['load_after']}",
    ]
    blas = next((b for b in f.get("blas", []) if b.get("internal_api") == "openblas"), None)
    if blas:
        unset = result["unset_for_benchmark"]
        line = f"numpy BLAS: OpenBLAS {blas.get('architecture', '?')} kernel, {blas.get('num_threads', '?')} threads"
        if unset:
            line += f"; unset for the benchmark: {', '.join(f'{k}={v}' for k, v in unset.items())}"
        lines.append(line)
    for p in result.get("processes", []):
        lines.extend(f"skipped: {p['backend']} {s['reason']}" for s in p.get("skipped", []))
    return lines


def busy_reasons(result: dict[str, Any]) -> list[str]:
    """Why this run's numbers may not mean much (empty: no sign of it): the load before and after, per CPU,
    and each variant whose repeats spread more than ``SPREAD_LIMIT`` times."""
    reasons = []
    cpus = result.get("machine", {}).get("nproc") or 0
    threads = result.get("threads") or 0
    for when, key, own in (("before", "load_before", 0), ("after", "load_after", threads)):
        load = result.get(key)
        if cpus and load:
            others = load[0] - own
            if others > BUSY_LOAD * cpus:
                mine = f" ({own} of it the benchmark's own threads)" if own else ""
                reasons.append(f"load average {load[0]:g} {when} the run{mine} on {cpus} CPUs")
    for r in result.get("runs", []):
        if _spread(r) > SPREAD_LIMIT:
            reasons.append(
                f"{r['workload']}: {r['backend']} {r['variant']}: repeats from {_time(r['min_per_epoch'])} to "
                f"{_time(r['min_per_epoch'] * _spread(r))} per epoch ({_spread(r):.1f}x)"
            )
    return reasons


def busy_lines(result: dict[str, Any]) -> list[str]:
    """The warning above the tables, or nothing on a quiet run."""
    reasons = busy_reasons(result)
    if not reasons:
        return []
    return [
        "WARNING: the machine was busy: these numbers (ratios and targets too) may not mean much; "
        "rerun on a quiet machine",
        *(f"  - {reason}" for reason in reasons),
    ]


def _slow(r: dict[str, Any]) -> float:
    """A run's slow end: its slowest repeat, leaving out the slowest tenth of them (with ten or
    more repeats, one slow repeat, a garbage collection or a timer tick, is not a busy machine)."""
    times = sorted(r.get("seconds") or [r["max"]])
    return float(times[max(0, math.ceil(0.9 * len(times)) - 1)])


def _spread(r: dict[str, Any]) -> float:
    """A run's slow end (``_slow``) over its fastest repeat (1.0 for a failed run or one repeat)."""
    if not r.get("ok") or not r.get("min"):
        return 1.0
    return _slow(r) / float(r["min"])


def table_rows(result: dict[str, Any], wl: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """One workload's table: a header and a row per variant (and per backend that failed to run)."""
    header = ["backend", "variant", "median / epoch", "min", "max", "runs", "compile"]
    # against the floor: the fraction of the floor's sgemm rate and of its read bandwidth reached
    rates = wl["versus"] == "floor"
    header += ["FMA rate / read", f"x {wl['versus']}"] if rates else [f"x {wl['versus']}"]
    rows = []
    for r in result["runs"]:
        if r.get("workload") != wl["name"]:
            continue
        if not r.get("ok"):
            rows.append([r["backend"], r["variant"], "failed: " + r.get("error", "")[:60], *[""] * (len(header) - 3)])
            continue
        # the warm-up's extra time over a steady run, for a variant that compiles on its first call
        compiles = r.get("compiles")
        rows.append(
            [
                r["backend"],
                r["variant"],
                _time(r["median_per_epoch"]),
                _time(r["min_per_epoch"]),
                _time(r["max_per_epoch"]),
                str(r["repeats"]),
                f"{r['compile_seconds']:.2f} s" if compiles else "-",
                *([_fractions(r)] if rates else []),
                f"{r['ratio']:.2f}" + (" *" if _spread(r) > SPREAD_LIMIT else ""),
            ]
        )
    for r in result["runs"]:
        if "workload" not in r and not r.get("ok"):
            rows.append([r["backend"], "(all)", "failed: " + r.get("error", "")[:60], *[""] * (len(header) - 3)])
    return header, rows


def _fractions(r: dict[str, Any]) -> str:
    """ "31% / 58%": a run's fraction of the floor's matmul (FMA) rate and of its read bandwidth
    ("-" for an X that stays in the cache; empty when not measured)."""
    if r.get("fma_fraction") is None:
        return ""
    read = r.get("read_fraction")
    return f"{r['fma_fraction']:.0%} / " + ("-" if read is None else f"{read:.0%}")


def workload_line(wl: dict[str, Any]) -> str:
    line = (
        f"{wl['name']}: {wl['title']}, {wl['n']:,} x {wl['d']} -> {wl['c']}, {wl['epochs']} epochs "
        f"({wl['steps']} steps)"
    )
    if wl["versus"] == "floor" and wl.get("x_in_cache"):
        line += (
            f"; floor per epoch {_time(wl['floor_s'])} = matmuls (X, {_bytes(wl['x_bytes'])}, stays in the "
            f"{_bytes(wl['cache_bytes'])} cache: memory bandwidth is no limit)"
        )
    elif wl["versus"] == "floor":
        line += (
            f"; floor per epoch {_time(wl['floor_s'])} = max(read X {_time(wl['floor_read_s'])}, "
            f"matmuls {_time(wl['floor_matmul_s'])})"
        )
    else:
        line += "; ratio: to the fastest variant"
    return line


def text_report(result: dict[str, Any]) -> str:
    """The tables for a terminal."""
    out = [*summary_lines(result), ""]
    busy = busy_lines(result)
    if busy:
        out += [*busy, ""]
    for wl in result["workloads"]:
        out.append(workload_line(wl))
        header, rows = table_rows(result, wl)
        widths = [max(len(x) for x in col) for col in zip(header, *rows, strict=True)]
        for row in (header, *rows):
            cells = (c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
            out.append("  " + "  ".join(cells))
        if any(row[-1].endswith("*") for row in rows):
            out.append(f"  *: its repeats spread more than {SPREAD_LIMIT:g}x: the ratio is not reliable")
        if "final_cost_spread" in wl:
            out.append(f"  final cost {wl['final_cost']:.6g} in every variant, within {wl['final_cost_spread']:.1e}")
        out.append("")
    if result["targets"]:
        out.append("Targets (the machine was busy: see the warning above):" if busy else "Targets:")
        for t in result["targets"]:
            out.append(f"  [{'met' if t['met'] else 'MISSED'}] {t['text']}")
    return "\n".join(out)


def markdown_header(result: dict[str, Any]) -> list[str]:
    """The lines every Markdown result starts with: the command and when, the machine, the versions."""
    m = result["machine"]
    versions = {"numpy": m.get("numpy")}
    for p in result["processes"]:
        versions.update(p.get("versions", {}))
    return [
        f"Run {result['started']}: `{' '.join(result['command'] or ['softmax-rosetta', 'bench'])}`",
        "",
        f"- machine: {m.get('cpu', '?')} ({', '.join(m.get('simd', []))}), {m.get('nproc')} CPUs, "
        f"{m.get('ram_gib', '?')} GiB RAM; {m.get('platform')}; Python {m.get('python')}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()),
    ]


def markdown_report(result: dict[str, Any]) -> str:
    """The results as Markdown: the tables, the floor, the machine and the command that made them."""
    out = markdown_header(result)
    out.append(f"- threads: {result['threads']} in every pool, CPU affinity {result['cpus']}")
    out.extend(f"- {line}" for line in summary_lines(result)[1:])
    for p in result["processes"]:
        threads = {k: v for k, v in (p.get("threads") or {}).items() if v not in ("", None)}
        if threads:
            out.append(f"- {p['backend']}: " + ", ".join(f"{k} {v}" for k, v in threads.items()))
    out.append("")
    busy = busy_reasons(result)
    if busy:
        out.append("**The machine was busy: these numbers (ratios and targets too) may not mean much.**")
        out.append("")
        out.extend(f"- {reason}" for reason in busy)
        out.append("")
    for wl in result["workloads"]:
        out.append(f"**{workload_line(wl)}**")
        out.append("")
        header, rows = table_rows(result, wl)
        out.append("| " + " | ".join(header) + " |")
        out.append("|" + "|".join(["---"] * 2 + ["---:"] * (len(header) - 2)) + "|")
        out.extend("| " + " | ".join(row) + " |" for row in rows)
        if any(row[-1].endswith("*") for row in rows):
            out.append(f"\n\\*: its repeats spread more than {SPREAD_LIMIT:g}x: the ratio is not reliable.")
        if "final_cost_spread" in wl:
            out.append(f"\nFinal cost {wl['final_cost']:.6g} in every variant, within {wl['final_cost_spread']:.1e}.")
        out.append("")
    if result["targets"]:
        out.append("Targets (the machine was busy: see above):" if busy else "Targets:")
        out.append("")
        out.extend(f"- {'met' if t['met'] else '**missed**'}: {t['text']}" for t in result["targets"])
    return "\n".join(out) + "\n"
