"""The conformance kit: ``softmax-rosetta conform NAME`` holds any registered backend to the checks every
backend must pass, and prints a pass/fail matrix (docs/backends.md, "Write a backend").

    cases.py          the cross-entropy case table and its float64 reference (shared with the tests)
    torch_samples.py  torch's own sample inputs, stored as data, and how a backend's answer is judged
    checks.py         the checks: functional ops, torch's samples, training, variants, save/predict, ...
    deviations.py     a backend's declared deviations (the checks it knowingly fails, with reasons)
    render.py         the matrix as Markdown and JSON
    command.py        the subcommand
"""
