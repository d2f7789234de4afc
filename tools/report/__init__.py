"""The agreement report of ``softmax-rosetta compare``: report.md, report.json, junit.xml and two plots.

    command      choose the backends, run each in its own process, build and write the report
    runs         one backend's forward outputs and training runs, computed in a child process
    model        what the report holds (``Report``, ``BackendStatus``), its verdict, ``build_report``
    markdown     report.md (with environment_section: the machine, versions, settings)
    json_report  report.json          junit   junit.xml          plots   loss.png, deviation.png
    output       writing the files atomically, report.md last; clearing the previous run's
    text         number and table formatting shared by the renderers
    saved_runs/  saved runs: the file format, its checks, run identity, ``--save-runs``, ``compare --runs``
    drift        ``--baseline``: each run against the same run in an older report or saved runs
    machines     report.md's Machines and Drift sections

The JSON schema is in docs/report.md.
"""

from .command import CompareError, CompareOptions, compare
from .json_report import SCHEMA, SCHEMA_VERSION, to_json
from .junit import junit
from .markdown import markdown, summary_table
from .model import REFERENCE_BACKEND, BackendStatus, Report, build_report, now
from .output import OUTPUTS, clear_outputs, write_report
from .runs import BackendRun, backend_outputs, run_backend

__all__ = [
    "OUTPUTS",
    "REFERENCE_BACKEND",
    "SCHEMA",
    "SCHEMA_VERSION",
    "BackendRun",
    "BackendStatus",
    "CompareError",
    "CompareOptions",
    "Report",
    "backend_outputs",
    "build_report",
    "clear_outputs",
    "compare",
    "junit",
    "markdown",
    "now",
    "run_backend",
    "summary_table",
    "to_json",
    "write_report",
]
