"""report.md's Environment section: the machine, the versions, devices, threads and settings.

Nothing here knows one backend from another: each backend's versions and settings are shown
as its process recorded them (``Backend.versions()``, ``Backend.settings()``), beside the
process facts of ``environment.environment()``.
"""

from __future__ import annotations

import os
from typing import Any

from ..environment import ENV_VARS
from .model import Report
from .text import code, md, short, table


def environment_section(report: Report) -> list[str]:
    """The bullets, then a table of every backend's settings and one of its process."""
    parent = report.environment
    host, process = parent.get("machine", {}), parent.get("process", {})
    ran = [b for b in report.backends if b.run is not None and b.run.ok]
    lines = [
        f"- **Machine**: {md(_machine(host))}",
        f"- **Versions**: {md(_versions(report, host))}",
        "- **Device**: " + ", ".join([f"requested {code(report.device)}"] + [md(f"{b.name} {b.device}") for b in ran]),
        f"- **Threads**: {md(_threads(report, host, process))}",
        f"- **Environment variables** (threads, precision): {_variables(process.get('env', {}))}",
    ]
    if not ran:
        return lines
    names = [b.name for b in ran]
    headers = [md(n) for n in names]
    settings = {b.name: b.run.settings for b in ran if b.run is not None}
    keys = list(dict.fromkeys(k for s in settings.values() for k in s))
    lines += ["", "Each backend's settings, as its process reported them (`Backend.settings()`):", ""]
    lines += table(
        ["setting", *headers],
        [[md(k), *(short(settings[n].get(k, "")) for n in names)] for k in keys],
        "l" * (len(names) + 1),
    )
    processes = {b.name: _process_row(b.run.environment) for b in ran if b.run is not None}
    keys = list(dict.fromkeys(k for p in processes.values() for k in p))
    lines += ["", "<details><summary>Each backend's process (pid, CPUs, BLAS, environment variables)</summary>", ""]
    rows = [[md(k), *(processes[n].get(k, "") for n in names)] for k in keys]
    lines += table(["", *headers], rows, "l" * (len(names) + 1))
    return lines + ["", "</details>"]


def _machine(host: dict[str, Any]) -> str:
    cpu = host.get("cpu") or host.get("machine", "")
    simd = f" ({', '.join(host['simd'])})" if host.get("simd") else ""
    ram = f", {host['ram_gib']} GiB" if "ram_gib" in host else ""
    return f"{cpu}{simd}, {host.get('nproc')} CPUs{ram}; {host.get('platform', '')}"


def _versions(report: Report, host: dict[str, Any]) -> str:
    versions = {"Python": host.get("python", ""), "numpy": host.get("numpy", "")}
    for b in report.backends:
        if b.run is not None and b.run.ok:
            versions.update(b.run.versions)
    text = ", ".join(f"{k} {v}" for k, v in versions.items())
    not_run = [b.name for b in report.backends if b.status != "ran"]
    return text + (f" (not run: {', '.join(not_run)})" if not_run else "")


def _threads(report: Report, host: dict[str, Any], process: dict[str, Any]) -> str:
    cpus = process.get("cpus")
    usable = f" ({len(cpus)} usable)" if cpus is not None and len(cpus) != host.get("nproc") else ""
    parts = [f"{host.get('nproc')} CPUs{usable}"]
    for b in report.backends:
        if b.run is not None and b.run.ok:
            pools = [_pool(p) for p in b.run.environment.get("blas", [])]
            parts.append(f"{b.name} BLAS {', '.join(pools) or 'none loaded'}")
    parts.append("each backend in its own process, one at a time; its own thread settings are in the table below")
    return "; ".join(parts)


def _pool(pool: dict[str, Any]) -> str:
    """One BLAS library: "openblas (Haswell) 2 threads"."""
    arch = f" ({pool['architecture']})" if pool.get("architecture") else ""
    threads = f" {pool['num_threads']} threads" if pool.get("num_threads") is not None else ""
    return f"{pool.get('internal_api', '?')}{arch}{threads}"


def _variables(env: dict[str, str]) -> str:
    set_ = ", ".join(f"{md(k)}={code(str(v))}" for k, v in env.items())
    unset = ", ".join(k for k in ENV_VARS if k not in env)
    return "; ".join(p for p in (set_, f"unset: {unset}" if unset else "") if p)


def _process_row(env: dict[str, Any]) -> dict[str, str]:
    process = env.get("process", {})
    row = {"pid": short(process.get("pid", "")), "CPUs": short(process.get("cpus", ""))}
    for i, pool in enumerate(env.get("blas", [])):
        row[f"BLAS {i + 1}"] = short(f"{_pool(pool)}: {os.path.basename(pool.get('filepath', ''))}")
    row.update({k: short(v) for k, v in process.get("env", {}).items()})
    return row
