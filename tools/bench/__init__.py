"""``softmax-rosetta bench``: every backend's training variants timed against the machine's floor.

    softmax-rosetta bench                 # T, M and L, every backend and variant: a few minutes
    softmax-rosetta bench --quick         # a CI-sized run (fewer epochs, L at 20,000 rows)
    softmax-rosetta bench --json          # the whole result as JSON on stdout
    softmax-rosetta bench --device cuda   # torch and JAX on a GPU, L at 1,000,000 rows there
    softmax-rosetta bench --workers 1,2   # data-parallel training of L on 1 and 2 workers: speedup, efficiency

    from softmax_rosetta.tools.bench import Options, run, text_report
    print(text_report(run(Options(quick=True, backends=("numpy",)))))

Workloads (float32, full-batch plain SGD, the lesson's loop; each a fixed number of epochs):
T, the seed spec (per-step overhead, compared to the fastest variant); M, the digits, and L,
synthetic blobs (each compared to the floor: the machine's memory read bandwidth and matmul
rate, measured in the same run).

The modules, one job each:
    workloads  what T, M and L are, and their arrays
    floor      the machine's floor (measured in a process of its own)
    timing     one backend's variants timed (in a process of its own)
    runner     the run: the data, the processes (``softmax_rosetta.tools.worker``), the results
    progress   the progress bar on stderr
    targets    the targets checked on every run
    report     the results as text and Markdown
    scaling    --workers: data-parallel training timed at each worker count (in processes of their own)
    scaling_report  --workers's results as text and Markdown
    command    the ``bench`` subcommand's options and output
"""

from .report import markdown_report, text_report
from .runner import Options, run
from .targets import check_targets
from .workloads import make_data

__all__ = ["Options", "check_targets", "make_data", "markdown_report", "run", "text_report"]
