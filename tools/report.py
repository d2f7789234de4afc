"""The agreement report of ``softmax-rosetta compare``: report.md, report.json, junit.xml and two plots.

``build_report`` takes what the backend processes returned (``report_worker.WorkerResult``),
runs every check of ``softmax_rosetta.compare`` on it and keeps the verdict; ``write_report`` writes
the files. Every file is written to a temporary file beside it and moved into place with
``os.replace``, and ``clear_outputs`` removes the previous run's files before a run starts,
so an interrupted run leaves no report at all rather than a truncated or stale one that
could read as a pass. report.md is written last. The JSON schema is in docs/report.md.
"""

from __future__ import annotations

import io
import json
import math
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from softmax_rosetta.backend import TrainResult
from softmax_rosetta.compare import (CHECK_GROUPS, Check, Deviation, accuracy_tolerance, compare_all, deviation, label,
                      scale_tolerances, suspects)
from .files import atomic_write
from .report_worker import PERTURB_ENV, WorkerResult, environment
from softmax_rosetta.spec import Spec

SCHEMA = "softmax-rosetta/agreement-report"
SCHEMA_VERSION = 1
OUTPUTS = ("report.md", "report.json", "junit.xml", "loss.png", "deviation.png")
REFERENCE = ("numpy", "lesson", "float64")   # backend, variant, dtype of the reference trajectory


@dataclass
class BackendStatus:
    """One backend in the report: ``ran``, ``failed`` (to run) or ``skipped`` (not installed, no device)."""

    name: str
    status: str
    reason: str = ""
    requested: bool = False          # named in --backends (a default run asks for every installed one)
    worker: WorkerResult | None = None

    def to_dict(self) -> dict[str, Any]:
        w = self.worker
        return {"name": self.name, "status": self.status, "reason": self.reason, "requested": self.requested,
                "device": w.device if w else None, "note": w.note if w else "",
                "versions": w.versions if w else {}, "variants": w.variants if w else [],
                "seconds": w.seconds if w else None, "perturbed": w.perturbed if w else None,
                "settings": w.settings if w else {}, "environment": w.environment if w else {}}


@dataclass
class Report:
    spec: Spec                       # with the tolerances in force (scaled)
    dtypes: list[str]
    device: str
    tolerance_scale: float
    backends: list[BackendStatus]
    checks: list[Check]
    runs: list[TrainResult]          # the runs that were checked
    outputs: dict[str, dict[str, dict[str, np.ndarray]]]   # {dtype: {backend: {output: values}}}
    reference: TrainResult | None    # the float64 NumPy run
    reference_error: str
    deviations: list[tuple[Deviation, np.ndarray]]
    errors: list[str]                # backends that failed to run, as sentences
    perturbation: str                # the test hook's value, "" when unset
    command: list[str]
    started: str
    seconds: float = 0.0
    plots: dict[str, Any] = field(default_factory=lambda: {"files": [], "skipped": "not drawn yet"})

    # --- the verdict --------------------------------------------------------------------------
    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    @property
    def passed(self) -> bool:
        return not self.errors and not self.failed and bool(self.checks)

    @property
    def exit_status(self) -> int:
        return 0 if self.passed else 1

    @property
    def suspects(self) -> list[str]:
        failed_to_run = [b.name for b in self.backends if b.status == "failed"]
        return sorted(set(suspects(self.checks)) | set(failed_to_run))

    @property
    def ran(self) -> list[str]:
        return [b.name for b in self.backends if b.status == "ran"]

    @property
    def skipped(self) -> list[BackendStatus]:
        return [b for b in self.backends if b.status == "skipped"]

    def verdict_line(self, markdown: bool = True) -> str:
        """The first line of report.md and the last line on the terminal."""
        bold = (lambda s: f"**{s}**") if markdown else (lambda s: s)  # noqa: E731
        where = f"spec {self.spec.name}, {', '.join(self.dtypes)}, device {self.device}"
        if self.tolerance_scale != 1:
            where += f", tolerances x {self.tolerance_scale:g}"
        skipped = ""
        if self.skipped:
            skipped = "; skipped (not counted as passing): " + ", ".join(f"{b.name} ({b.reason})" for b in self.skipped)
        if self.perturbation:
            skipped += f"; TEST HOOK {PERTURB_ENV}={self.perturbation} shifted results on purpose"
        n, bad = len(self.checks), self.failed
        if self.passed:
            worst = max(self.checks, key=lambda c: c.headroom)
            who = (f"{_and(self.ran)} agree" if len(self.ran) > 1
                   else f"{_and(self.ran)}, the only backend, matches the expected costs")
            return (f"{bold('PASS')}: {who} ({where}): all {n} checks within tolerance; "
                    f"closest: {_name(worst)} at {_h(worst.headroom)} of its tolerance{skipped}")
        parts = []
        if self.errors:
            parts.append("; ".join(self.errors))
        if bad:
            kinds: dict[str, list[str]] = {}
            for c in bad:
                if c.dtype not in kinds.setdefault(c.check, []):
                    kinds[c.check].append(c.dtype)
            names = ", ".join(f"{check} ({', '.join(d)})" for check, d in kinds.items())
            first = (f"; first: {bad[0].a} ({bad[0].dtype}) diverged {bad[0].b}" if bad[0].check == "diverged"
                     else f"; first: {_name(bad[0])} at {_h(bad[0].headroom)} times its tolerance")
            parts.append(f"{len(bad)} of {n} checks fail: {names}{first}")
        if not n and not self.errors:
            parts.append("nothing was compared")
        culprits = self.suspects
        pointing = f" (pointing at {_and(culprits)})" if culprits else ""
        return f"{bold('FAIL')}{pointing}: {'; '.join(parts)} ({where}){skipped}"

    # --- machine-readable -------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        worst = max(self.checks, key=lambda c: c.headroom) if self.checks else None
        ref = self.reference
        data = {
            "schema": SCHEMA, "schema_version": SCHEMA_VERSION,
            "verdict": "pass" if self.passed else "fail", "exit_status": self.exit_status,
            "verdict_line": self.verdict_line(markdown=False),
            "summary": {"checks": len(self.checks), "passed": len(self.checks) - len(self.failed),
                        "failed": len(self.failed), "errors": self.errors, "suspects": self.suspects,
                        "worst": worst.to_dict() if worst else None,
                        "backends_ran": self.ran, "backends_failed": [b.name for b in self.backends if b.status == "failed"],
                        "backends_skipped": [b.name for b in self.skipped]},
            "failed_checks": [c.to_dict() for c in self.failed],
            "created": self.started, "seconds": self.seconds, "command": self.command,
            "perturbation": self.perturbation or None,
            "spec": {"name": self.spec.name, "path": self.spec.path, "description": self.spec.description,
                     "epochs": self.spec.epochs, "lr": self.spec.lr, "samples": self.spec.num_samples,
                     "expected_every": self.spec.expected_every, "expected_costs": list(self.spec.expected_costs)},
            "dtypes": self.dtypes, "device": self.device, "tolerance_scale": self.tolerance_scale,
            "tolerances": {d: {"expected_cost": t.expected_cost, "cost": t.cost, "param": t.param,
                               "output": t.output, "accuracy": accuracy_tolerance(self.spec) * self.tolerance_scale,
                               "note": t.note}
                           for d, t in self.spec.tolerances.items() if d in self.dtypes},
            "environment": {"parent": environment(), "backends": {b.name: b.to_dict()["settings"] for b in self.backends
                                                                  if b.worker}},
            "backends": [b.to_dict() for b in self.backends],
            "checks": [c.to_dict() for c in self.checks],
            "reference": ({"backend": REFERENCE[0], "variant": REFERENCE[1], "dtype": REFERENCE[2],
                           "losses": ref.losses.tolist()} if ref is not None else {"error": self.reference_error}),
            "deviations": [d.to_dict() for d, _ in self.deviations],
            "runs": [{"label": label(r), **r.to_dict()} for r in self.runs],
            "forward": self.outputs,
            "plots": self.plots,
        }
        return _jsonable(data)

    # --- for people ------------------------------------------------------------------------------
    def summary_table(self) -> list[str]:
        """One row per check and dtype: how many comparisons, the worst one, pass or fail."""
        rows = []
        seen: dict[tuple[str, str], list[Check]] = {}
        for c in self.checks:
            seen.setdefault((c.check, c.dtype), []).append(c)
        for (check, dtype), cs in seen.items():
            worst = max(cs, key=lambda c: (not c.passed, c.headroom if math.isfinite(c.headroom) else math.inf))
            nbad = sum(not c.passed for c in cs)
            rows.append([check, dtype, str(len(cs)), _g(worst.max_abs), _g(worst.tolerance), _h(worst.headroom),
                         f"{worst.a} vs {worst.b}", f"FAIL ({nbad})" if nbad else "pass"])
        return _table(["check", "dtype", "compared", "worst max abs", "tolerance", "headroom", "worst pair", "result"],
                      rows, "llrrrrll")

    def markdown(self) -> str:
        out = [f"# {self.verdict_line()}", ""]
        if self.perturbation:
            out += [f"> **Test hook active**: `{PERTURB_ENV}={self.perturbation}` shifted backends' results "
                    "on purpose (see tools/report_worker.py). These numbers do not describe the backends.", ""]
        if self.errors:
            out += ["## Backends that failed to run", ""] + [f"- {e}" for e in self.errors] + [""]
        if self.failed:
            out += ["## Failing checks", "", *self._check_table(self.failed), ""]
        out += [f"## Summary: {len(self.checks) - len(self.failed)} of {len(self.checks)} checks pass", "",
                "Headroom is max abs difference / tolerance: below 1 passes, 0.01 is a hundred times room to spare. "
                "The worst comparison of each check is shown.", "", *self.summary_table(), ""]
        out += ["## Backends", "", *self._backend_table(), ""]
        out += ["## Deviation from the float64 NumPy reference", ""]
        if self.reference is None:
            out += [f"No reference trajectory: {self.reference_error}", ""]
        else:
            out += ["The largest `|cost - reference cost|` over all epochs, for every run: information, not a check "
                    "(float32 runs sit about float32 rounding away from it).", "", *self._deviation_table(), ""]
        out += ["## Environment", "", *self._environment(), ""]
        out += ["## Checks in detail", ""]
        for group, title, names, what in CHECK_GROUPS:
            cs = [c for c in self.checks if c.group == group]
            if cs:
                out += [f"### {title}", "", f"{what}.", "", *self._check_table(cs), ""]
        out += ["## Tolerances", "", *self._tolerance_table(), ""]
        out += ["## Plots", ""]
        files = self.plots.get("files", [])
        if files:
            out += [f"![{Path(f).stem}]({f})" for f in files] + [""]
            out += ["loss.png: every run's cost per epoch; deviation.png: `|cost - reference cost|` per epoch, log scale.", ""]
        else:
            out += [f"Plots skipped: {self.plots.get('skipped')}.", ""]
        out += [f"Made by `{' '.join(self.command)}` on {self.started} in {self.seconds:.1f} s. "
                "report.json has every number; junit.xml has one test case per check.", ""]
        return "\n".join(out)

    def _check_table(self, checks: Iterable[Check]) -> list[str]:
        rows = [[c.check, c.dtype, c.a, c.b, _g(c.max_abs), _g(c.max_rel), _g(c.tolerance), _h(c.headroom),
                 "pass" if c.passed else "**FAIL**"] for c in checks]
        return _table(["check", "dtype", "a", "b", "max abs", "max rel", "tolerance", "headroom", "result"], rows,
                      "llllrrrrl")

    def _backend_table(self) -> list[str]:
        rows = []
        for b in self.backends:
            w = b.worker
            versions = ", ".join(f"{k} {v}" for k, v in w.versions.items()) if w and w.versions else ""
            runs = [r for r in self.runs if r.backend == b.name]
            variants = ", ".join(w.variants) if w and w.variants else ""
            detail = b.reason or (w.note if w else "")
            if w and w.perturbed:
                detail = f"perturbed by {w.perturbed:g} (test hook)" + (f"; {detail}" if detail else "")
            rows.append([b.name, b.status if b.status != "failed" else "**failed**", w.device if w and w.device else "",
                         versions, variants, str(len(runs)), f"{w.seconds:.1f} s" if w else "", detail])
        return _table(["backend", "status", "device", "versions", "variants", "runs", "time", "note"], rows, "lllllrrl")

    def _deviation_table(self) -> list[str]:
        by_label = {(label(r), r.dtype): r for r in self.runs}
        rows = []
        for d, _ in self.deviations:
            r = by_label[(d.run, d.dtype)]
            final = float(r.losses[-1]) if r.losses.size else math.nan
            rows.append([d.run, d.dtype, _g(d.max_abs), str(d.epoch), _g(d.max_rel), _g(d.final_abs),
                         f"{final:.9g}", f"{r.accuracy:.4g}", f"{r.seconds:.2f} s"])
        return _table(["run", "dtype", "max abs", "at epoch", "max rel", "at the end", "final cost", "accuracy",
                       "train time"], rows, "llrrrrrrr")

    def _environment(self) -> list[str]:
        parent = environment()
        by = {b.name: b.worker for b in self.backends if b.worker and b.worker.ok}
        s = {name: w.settings for name, w in by.items()}
        e = {name: w.environment for name, w in by.items()}
        versions = [f"Python {parent['python']}", f"numpy {parent['numpy']}"]
        for pkg, owner in (("torch", "torch"), ("jax", "jax"), ("jaxlib", "jax"), ("flax", "jax"), ("optax", "jax")):
            value = s.get(owner, {}).get(pkg)
            versions.append(f"{pkg} {value}" if value else f"{pkg} (not run)")
        lines = [f"- **Versions**: {', '.join(versions)}; {parent['platform']}"]
        devices = [f"requested `{self.device}`"]
        for name, w in by.items():
            d = w.device
            if name == "torch" and "gpu" in s[name]:
                d += f" ({s[name]['gpu']})"
            if name == "jax" and "jax_device" in s[name]:
                d += f" (`{s[name]['jax_device']}`)"
            devices.append(f"{name} {d}")
        lines.append(f"- **Device**: {', '.join(devices)}")
        threads = [f"{parent['cpu_count']} CPUs" + (f" ({parent['affinity_cpus']} usable)"
                                                   if parent.get("affinity_cpus") not in (None, parent["cpu_count"]) else "")]
        if "torch" in s:
            threads.append(f"torch {s['torch'].get('torch_threads')} intra-op / "
                           f"{e['torch'].get('torch_interop_threads', '?')} inter-op threads")
        if "numpy" in s:
            threads.append(f"numpy BLAS {s['numpy'].get('blas', '?')}")
        env = parent["env"]
        thread_vars = [k for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS") if k in env]
        threads.append(", ".join(f"{k}={env[k]}" for k in thread_vars) if thread_vars
                       else "OMP/MKL/OPENBLAS_NUM_THREADS unset")
        threads.append("each backend in its own process, one at a time")
        lines.append(f"- **Threads**: {'; '.join(threads)}")
        precision = []
        if "torch" in s:
            t = s["torch"]
            tf32 = "off" if (t.get("cuda_matmul_fp32_precision"), t.get("cudnn_fp32_precision")) == ("ieee", "ieee") else "ON"
            precision.append(f"torch TF32 {tf32} (cuda matmul fp32_precision `{t.get('cuda_matmul_fp32_precision')}`, "
                             f"cudnn `{t.get('cudnn_fp32_precision')}`, float32_matmul_precision "
                             f"`{t.get('float32_matmul_precision')}`)")
        if "jax" in s:
            j = s["jax"]
            precision.append(f"JAX matmul precision `{j.get('model_matmul_precision')}` in the model, "
                             f"jax_default_matmul_precision `{j.get('jax_default_matmul_precision')}`, "
                             f"jax_enable_x64 `{j.get('jax_enable_x64')}`")
        precision.append(f"XLA_FLAGS `{env['XLA_FLAGS']}`" if env.get("XLA_FLAGS") else "XLA_FLAGS unset")
        other = {k: v for k, v in env.items() if k not in thread_vars and k != "XLA_FLAGS"}
        if other:
            precision.append(", ".join(f"{k}=`{v}`" for k, v in other.items()))
        lines.append(f"- **Precision**: {'; '.join(precision)}")
        lines += ["", "<details><summary>Every setting each backend process reported</summary>", ""]
        keys = sorted({k for v in s.values() for k in v} | {k for v in e.values() for k in v if k != "env"})
        rows = [[k] + [_short(s[n].get(k, e[n].get(k, ""))) for n in by] for k in keys]
        lines += _table(["setting", *by], rows, "l" * (len(by) + 1)) + ["", "</details>"]
        return lines

    def _tolerance_table(self) -> list[str]:
        scale = f" (the spec's times {self.tolerance_scale:g})" if self.tolerance_scale != 1 else ""
        lines = [f"Absolute tolerances from spec `{self.spec.name}`{scale}. Accuracy: half a sample, so "
                 "accuracies must be equal.", ""]
        rows = []
        for d in self.dtypes:
            t = self.spec.tolerance(d)
            rows.append([d, _g(t.output), _g(t.cost), _g(t.expected_cost), _g(t.param),
                         _g(accuracy_tolerance(self.spec) * self.tolerance_scale)])
        lines += _table(["dtype", "softmax, losses (output)", "costs", "expected", "params", "accuracy"], rows, "lrrrrr")
        notes = [f"- {d}: {self.spec.tolerance(d).note}" for d in self.dtypes if self.spec.tolerance(d).note]
        return lines + ([""] + notes if notes else [])

    # --- CI -----------------------------------------------------------------------------------------
    def junit(self) -> bytes:
        suites = ET.Element("testsuites", name="softmax-rosetta agreement")
        total = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}

        def suite(name: str) -> ET.Element:
            return ET.SubElement(suites, "testsuite", name=name)

        backends = suite("agreement.backends")
        for b in self.backends:
            case = ET.SubElement(backends, "testcase", classname="agreement.backends", name=f"run {b.name}",
                                 time=f"{b.worker.seconds:.3f}" if b.worker else "0")
            if b.status == "failed":
                ET.SubElement(case, "error", message=b.reason, type="BackendFailed").text = (
                    b.worker.log[-4000:] if b.worker else b.reason)
            elif b.status == "skipped":
                ET.SubElement(case, "skipped", message=b.reason)
        if self.reference is None:
            case = ET.SubElement(backends, "testcase", classname="agreement.backends", name="reference numpy float64")
            ET.SubElement(case, "error", message=self.reference_error, type="NoReference")
        for group, title, _, _ in CHECK_GROUPS:
            cs = [c for c in self.checks if c.group == group]
            if not cs:
                continue
            s = suite(f"agreement.{group}")
            for c in cs:
                case = ET.SubElement(s, "testcase", classname=f"agreement.{group}.{c.dtype}",
                                     name=f"{c.check} {c.a} vs {c.b}", time="0")
                if not c.passed:
                    ET.SubElement(case, "failure", type="ToleranceExceeded",
                                  message=f"max abs difference {_g(c.max_abs)} > tolerance {_g(c.tolerance)} "
                                          f"(headroom {_h(c.headroom)})").text = c.line()
        for s in suites:
            counts = {"tests": len(s), "failures": sum(1 for c in s if c.find("failure") is not None),
                      "errors": sum(1 for c in s if c.find("error") is not None),
                      "skipped": sum(1 for c in s if c.find("skipped") is not None)}
            for k, v in counts.items():
                s.set(k, str(v))
                total[k] += v
        for k, v in total.items():
            suites.set(k, str(v))
        suites.set("time", f"{self.seconds:.3f}")
        ET.indent(suites)
        return ET.tostring(suites, encoding="utf-8", xml_declaration=True) + b"\n"


# --- building ---------------------------------------------------------------------------------

def build_report(spec: Spec, dtypes: Sequence[str], device: str, tolerance_scale: float,
                 backends: list[BackendStatus], reference_worker: WorkerResult | None,
                 command: Sequence[str], started: str, perturbation: str = "") -> Report:
    """Compare what the backend processes returned; ``reference_worker`` is NumPy's when it ran."""
    errors = [f"{b.name} failed to run: {b.reason}" for b in backends if b.status == "failed"]
    outputs: dict[str, dict[str, dict[str, np.ndarray]]] = {d: {} for d in dtypes}
    runs: list[TrainResult] = []
    for b in backends:
        if b.status != "ran":
            continue
        for d in dtypes:
            if d in b.worker.forward:
                outputs[d][b.name] = b.worker.forward[d]
        runs += [r for r in b.worker.runs if r.dtype in dtypes]
    checks = compare_all(outputs, runs, spec, tolerance_scale)

    reference, reference_error = None, ""
    if reference_worker is None:
        reference_error = "the NumPy backend did not run"
    elif not reference_worker.ok:
        reference_error = f"the NumPy reference run failed: {reference_worker.error}"
    else:
        reference = next((r for r in reference_worker.runs
                          if (r.backend, r.variant, r.dtype) == REFERENCE), None)
        if reference is None:
            reference_error = "the NumPy process returned no float64 run"
        elif reference.diverged_at is not None:
            reference_error = f"the NumPy float64 reference run diverged at epoch {reference.diverged_at}"
            reference = None
    if reference_error and not any(b.name == "numpy" and b.status == "failed" for b in backends):
        errors.append(f"reference: {reference_error}")
    deviations = ([deviation(r, reference.losses) for r in runs if r.diverged_at is None]
                  if reference is not None else [])
    return Report(spec=scale_tolerances(spec, tolerance_scale), dtypes=list(dtypes), device=device,
                  tolerance_scale=tolerance_scale, backends=backends, checks=checks, runs=runs, outputs=outputs,
                  reference=reference, reference_error=reference_error, deviations=deviations, errors=errors,
                  perturbation=perturbation, command=list(command), started=started)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# --- writing ----------------------------------------------------------------------------------

def clear_outputs(out_dir: str | os.PathLike) -> None:
    """Remove the previous run's report files, so that only a finished run leaves a report."""
    for name in OUTPUTS:
        try:
            os.unlink(os.path.join(out_dir, name))
        except FileNotFoundError:
            pass


def write_report(report: Report, out_dir: str | os.PathLike, plots: bool = True) -> list[str]:
    """Write the five files (report.md last); append report.md to $GITHUB_STEP_SUMMARY if set."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    if plots:
        report.plots = write_plots(report, out)
    else:
        report.plots = {"files": [], "skipped": "turned off (--no-plots)"}
    written += [str(out / f) for f in report.plots["files"]]
    atomic_write(out / "report.json", json.dumps(report.to_json(), indent=1, allow_nan=False) + "\n")
    atomic_write(out / "junit.xml", report.junit())
    md = report.markdown()
    atomic_write(out / "report.md", md)
    written += [str(out / n) for n in ("report.json", "junit.xml", "report.md")]
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as f:
            f.write(md.replace("](loss.png)", "](loss.png) (in the uploaded reports artifact)")
                    .replace("](deviation.png)", "](deviation.png) (in the uploaded reports artifact)") + "\n")
    return written


# --- plots ------------------------------------------------------------------------------------

# Okabe-Ito colours (told apart with colour-blindness too): one per backend; one marker per variant;
# float32 filled, float64 hollow.
COLORS = {"numpy": "#0072B2", "torch": "#D55E00", "jax": "#009E73"}
MARKERS = {"lesson": "o", "fused": "^", "fast": "s", "compiled": "D"}
OTHER_MARKERS = ("v", "P", "X", "<", ">", "h")


def write_plots(report: Report, out: Path) -> dict[str, Any]:
    """loss.png and deviation.png; {"files": [...], "skipped": reason or None}."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception as exc:  # ImportError, or a broken install
        return {"files": [], "skipped": f"matplotlib is not available ({type(exc).__name__}: {exc}); "
                                        "pip install 'softmax-rosetta[plot]' to draw them"}
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


def _style(r: TrainResult, i: int, n: int, markevery: Any = None) -> dict[str, Any]:
    """Colour: the backend. Marker: the variant. Filled: float32, hollow: float64. Lines: the lesson
    variant solid, others dotted."""
    marker = MARKERS.get(r.variant) or OTHER_MARKERS[sum(map(ord, r.variant)) % len(OTHER_MARKERS)]
    return {"color": COLORS.get(r.backend, f"C{4 + i % 5}"), "marker": marker,
            "fillstyle": "none" if r.dtype == "float64" else "full",
            "linestyle": "-" if r.variant == "lesson" else ":", "markevery": markevery, "alpha": 0.85}


def _plot_loss(report: Report, plt: Any) -> Any:
    """Left: the whole trajectory. Right: the last epochs, every point marked, so that curves lying
    on top of each other (they agree to 1e-7) still show every backend."""
    fig, (ax, zoom) = plt.subplots(1, 2, figsize=(12.5, 5.2), gridspec_kw={"width_ratios": [3, 2]})
    n = len(report.runs)
    epochs = max(r.losses.size for r in report.runs)
    last = max(0, epochs - 12)
    for i, r in enumerate(report.runs):
        x, y = np.arange(r.losses.size), r.losses.astype(np.float64)
        name = f"{label(r)} {r.dtype}"
        step = max(1, r.losses.size // 10)
        style = _style(r, i, n)
        # Every run's line in grey (they coincide: the cost zigzags from epoch to epoch), then each
        # run's markers above them all, staggered so that no run hides another.
        ax.plot(x, y, linewidth=0.6, color="0.6", label="every run, every epoch" if i == 0 else None)
        every = slice(min(step - 1, int((i + 0.5) * step / max(1, n))), None, step)
        ax.plot(x[every], y[every], label=name, markersize=6, zorder=3, **{**style, "linestyle": "none"})
        dodge = 0.5 * (i - (n - 1) / 2) / max(1, n)   # side by side, so no run hides another
        zoom.plot(x[last:] + dodge, y[last:], label=name, linewidth=0.8, markersize=6,
                  **_style(r, i, n, markevery=1))
    spec = report.spec
    if spec.expected_costs:
        ax.plot(spec.expected_epochs, spec.expected_costs, linestyle="none", marker="x", color="black", markersize=9,
                label="the spec's expected costs", zorder=5)
        inside = [(e, c) for e, c in zip(spec.expected_epochs, spec.expected_costs) if e >= last]
        if inside:
            zoom.plot(*zip(*inside), linestyle="none", marker="x", color="black", markersize=12, zorder=5)
    ax.set(xlabel="epoch", ylabel="cost (mean cross-entropy)", title=f"Cost per epoch, spec {spec.name}")
    zoom.set(xlabel="epoch (runs drawn side by side)", title=f"The last {epochs - last} epochs, every point marked")
    zoom.ticklabel_format(axis="y", useOffset=False)
    for a in (ax, zoom):
        a.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(0.825, 0.93), fontsize=8, title_fontsize=8,
               title="the runs coincide;\ntheir markers are staggered")
    fig.tight_layout(rect=(0, 0, 0.825, 1))
    return fig


def _plot_deviation(report: Report, plt: Any) -> Any:
    fig, ax = plt.subplots(figsize=(13, 5.2))
    series = [(d, diff) for d, diff in report.deviations
              if (d.run, d.dtype) != (REFERENCE[0], REFERENCE[2])]   # the reference against itself is all zeros
    runs = {(label(r), r.dtype): r for r in report.runs}
    n = len(series)
    zeros = False
    for i, (d, diff) in enumerate(series):
        r = runs[(d.run, d.dtype)]
        zeros |= bool(np.any(diff == 0))
        style = _style(r, i, n)
        style.update(marker=".", markersize=2.5, fillstyle="full", linewidth=0.7)
        ax.plot(np.arange(diff.size), np.where(diff > 0, diff, np.nan), label=f"{d.run} {d.dtype}", **style)
    tolerances: dict[float, list[str]] = {}
    for dtype in report.dtypes:
        tolerances.setdefault(report.spec.tolerance(dtype).cost, []).append(dtype)
    for k, (tol, dtypes) in enumerate(sorted(tolerances.items())):
        ax.axhline(tol, color="gray", linestyle=("-.", (0, (6, 3)))[k % 2], linewidth=1)
        ax.annotate(f"cost tolerance between two {' or two '.join(dtypes)} runs ({tol:g})", (0, tol),
                    xytext=(4, 3), textcoords="offset points", fontsize=8, color="dimgray")
    ax.set_yscale("log")
    ax.set(xlabel="epoch", ylabel="|cost - reference cost|",
           title=f"Distance from the float64 NumPy run's cost, per epoch (spec {report.spec.name})"
                 + ("; gaps: exactly equal" if zeros else ""))
    ax.grid(alpha=0.3, which="major")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), markerscale=3)
    fig.tight_layout()
    return fig


# --- small helpers ----------------------------------------------------------------------------

def _and(names: Sequence[str]) -> str:
    names = list(names)
    if len(names) <= 1:
        return "".join(names) or "no backend"
    return ", ".join(names[:-1]) + f" and {names[-1]}"


def _name(c: Check) -> str:
    return f"{c.check} {c.dtype} {c.a} vs {c.b}"


def _g(x: float) -> str:
    if x is None:
        return ""
    if not math.isfinite(x):
        return str(x)
    return "0" if x == 0 else f"{x:.3g}"


def _h(x: float) -> str:
    if not math.isfinite(x):
        return str(x)
    return "0" if x == 0 else f"{x:.2g}"


def _short(v: Any) -> str:
    text = json.dumps(v) if isinstance(v, (list, dict)) else str(v)
    text = text.replace("|", "\\|")
    return text if len(text) <= 80 else text[:77] + "..."


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], align: str) -> list[str]:
    """A Markdown table, padded so that it also reads well as plain text."""
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.rjust(w) if a == "r" else c.ljust(w) for c, w, a in zip(cells, widths, align)) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if a == "r" else ("-" * (w + 2)) for w, a in zip(widths, align)) + "|"
    return [line(headers), rule] + [line(r) for r in rows]


def _jsonable(x: Any) -> Any:
    """Plain JSON: NumPy values made Python, NaN and infinities written as the strings "nan", "inf", "-inf"."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.bool_, bool)):
        return bool(x)
    if isinstance(x, (np.integer, int)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        x = float(x)
        return x if math.isfinite(x) else str(x)
    return x


__all__ = ["OUTPUTS", "BackendStatus", "Report", "atomic_write", "build_report", "clear_outputs", "now",
           "write_report"]
