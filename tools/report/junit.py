"""junit.xml: one test case per backend and per check, for CI test views."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from softmax_rosetta.compare import CHECK_GROUPS

from .drift import NOT_IN_BASELINE, NOT_MADE_NOW
from .model import REFERENCE_BACKEND, REFERENCE_DTYPE, Report
from .text import UNSAFE, printable, three_digits, two_digits

# What XML 1.0 can't hold at all (ElementTree writes it as it is, and no parser reads the file back).
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def junit(report: Report) -> bytes:
    """A backend that failed to run is an ``error``, one skipped ``skipped``, a failing check a ``failure``."""
    suites = ET.Element("testsuites", name="softmax-rosetta agreement")
    backends = ET.SubElement(suites, "testsuite", name="agreement.backends")
    for b in report.backends:
        case = ET.SubElement(
            backends,
            "testcase",
            classname="agreement.backends",
            name=f"run {b.name}",
            time=f"{b.run.seconds:.3f}" if b.run else "0",
        )
        if b.status == "failed":
            ET.SubElement(case, "error", message=b.reason, type="BackendFailed").text = (
                b.run.log[-4000:] if b.run else b.reason
            )
        elif b.status == "skipped":
            ET.SubElement(case, "skipped", message=b.reason)
    if report.reference is None:
        case = ET.SubElement(
            backends,
            "testcase",
            classname="agreement.backends",
            name=f"reference {REFERENCE_BACKEND} {REFERENCE_DTYPE}",
        )
        ET.SubElement(case, "error", message=report.reference_error, type="NoReference")
    for group, _, _, _ in CHECK_GROUPS:
        cs = [c for c in report.checks if c.group == group]
        skipped = [sk for sk in report.skipped_checks if sk.group == group]
        if not cs and not skipped:
            continue
        suite = ET.SubElement(suites, "testsuite", name=f"agreement.{group}")
        for sk in skipped:
            case = ET.SubElement(
                suite, "testcase", classname=f"agreement.{group}.{sk.dtype}", name=f"{sk.check} (skipped)", time="0"
            )
            ET.SubElement(case, "skipped", message=sk.reason)
        for c in cs:
            case = ET.SubElement(
                suite, "testcase", classname=f"agreement.{group}.{c.dtype}", name=f"{c.check} {c.a} vs {c.b}", time="0"
            )
            if not c.passed:
                limit = "tolerance" if c.source == "hand-set" else f"{c.source} envelope"
                at = f" at epoch {c.epoch}" if c.epoch is not None else ""
                ET.SubElement(
                    case,
                    "failure",
                    type="ToleranceExceeded",
                    message=f"max abs difference {three_digits(c.max_abs)} > {limit} {three_digits(c.tolerance)}{at} "
                    f"(headroom {two_digits(c.headroom)})",
                ).text = c.line()
    if report.drift is not None:
        suite = ET.SubElement(suites, "testsuite", name="agreement.drift")
        for e in report.drift.entries:
            case = ET.SubElement(
                suite, "testcase", classname=f"agreement.drift.{e.dtype}", name=f"drift {e.run}", time="0"
            )
            if not e.passed:
                ET.SubElement(
                    case,
                    "failure",
                    type="DriftExceeded",
                    message=f"costs moved {three_digits(e.cost_abs)} (tolerance {three_digits(e.cost_tolerance)}), "
                    f"params moved {three_digits(e.param_abs)} (tolerance {three_digits(e.param_tolerance)}) "
                    f"since {report.drift.source}",
                ).text = f"changed: {e.changes()}"
        for runs, why in ((report.drift.new, NOT_IN_BASELINE), (report.drift.gone, NOT_MADE_NOW)):
            for run in runs:
                name, dtype = run.rsplit(" ", 1)
                case = ET.SubElement(
                    suite, "testcase", classname=f"agreement.drift.{dtype}", name=f"drift {name}", time="0"
                )
                ET.SubElement(case, "skipped", message=f"{why} {report.drift.source}: not compared")
        if not report.drift.entries:
            case = ET.SubElement(suite, "testcase", classname="agreement.drift", name="drift", time="0")
            ET.SubElement(case, "failure", type="NothingCompared", message=report.drift.verdict_part())
    total = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for s in suites:
        counts = {
            "tests": len(s),
            "failures": sum(1 for c in s if c.find("failure") is not None),
            "errors": sum(1 for c in s if c.find("error") is not None),
            "skipped": sum(1 for c in s if c.find("skipped") is not None),
        }
        for k, v in counts.items():
            s.set(k, str(v))
            total[k] += v
    for k, v in total.items():
        suites.set(k, str(v))
    suites.set("time", f"{report.seconds:.3f}")
    _escape(suites)
    ET.indent(suites)
    return ET.tostring(suites, encoding="utf-8", xml_declaration=True) + b"\n"


def _escape(element: ET.Element) -> None:
    """Every name and message on one line and printable (``text.printable``), and no character XML 1.0
    forbids in a log: strings from saved runs and from processes' output reach this file.
    ElementTree escapes ``<``, ``>``, ``&`` and quotes itself."""
    for e in element.iter():
        for k, v in e.attrib.items():
            e.set(k, printable(v))
        if e.text:
            e.text = UNSAFE.sub(lambda m: m.group() if m.group() in "\n\t" else printable(m.group()), e.text)
            e.text = NOT_XML.sub(lambda m: printable(m.group()) if len(m.group()) == 1 else "?", e.text)
