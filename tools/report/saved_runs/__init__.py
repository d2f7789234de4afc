"""Saved runs: each training run as a file, to compare runs made on other machines and versions.

    format     the file format: writing a run (``saved_run``, ``write_run``) and reading one back (``read_run``)
    fields     every field of a file, checked on reading (types, ranges, control characters)
    identity   what makes a run this run (``RunIdentity``, its file's name), ``spec_hash``, ``PlacedRun``
    load       reading many files (``--runs``, ``--baseline``): one spec, each run once (the duplicate rule)
    options    what ``compare`` does with ``--save-runs``, ``--label`` and ``--baseline``, and
               the report's backends rebuilt from saved runs; ``train --save-run``
    compare    ``compare --runs``: the report from saved runs made anywhere, nothing rerun

The format, the file names, the checks and the duplicate rule are in docs/report.md.
"""
