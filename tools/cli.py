"""The ``softmax-rosetta`` command.

    softmax-rosetta train numpy            # the lesson's printout, from the NumPy backend
    softmax-rosetta train jax --dtype float64 --json
    softmax-rosetta train torch --save model.safetensors   # keep the trained model
    softmax-rosetta predict --model model.safetensors --input x.csv --backend jax
    softmax-rosetta compare                # every installed backend, every pair checked
    softmax-rosetta backends               # what is installed, versions, devices
    softmax-rosetta specs                  # the bundled specs
    softmax-rosetta tolerances seed        # how far correct backends may differ through rounding alone
    softmax-rosetta diverge numpy torch    # where two runs first part (step, quantity, cause), and how far they drift
    softmax-rosetta rosetta                # docs/rosetta.md and .html: the lesson side by side, from the code
    softmax-rosetta conform torch          # the conformance kit: one backend's pass/fail matrix (docs/backends.md)
    softmax-rosetta notebooks              # notebooks/*.ipynb: the lesson's steps, one backend each, executed

A user's mistake (an unknown backend, a bad value, a missing framework) is one line on
stderr and exit status 2, never a traceback; ``--debug`` shows the traceback.
Exit status 1 means the numbers disagree, or a training run diverged (its cost turned inf or
nan: one line names the run and the epoch). Stopped by Ctrl-C, SIGTERM or SIGHUP: one line and
130, 143 or 129, with every process and temporary file the run started gone (tools/process.py).
A closed stdout (``| head -1``) ends the run quietly with 141, as SIGPIPE would; one that can't
be written (``> /dev/full``) is one line and 1.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence

from .options import PROG, UsageError
from .process import StdoutError, Terminated, guarded, silence_stdout


def main(argv: Sequence[str] | None = None) -> int:
    args = None
    try:  # first, before any import of NumPy or a framework: a Ctrl-C even then is one line
        with guarded():  # SIGTERM unwinds like Ctrl-C; stdout's failures are StdoutError
            args = _parser().parse_args(argv)
            return args.run(args)
    except StdoutError as exc:  # as Unix tools do: a closed pipe ends quietly (141), a full disk is one line (1)
        silence_stdout()
        if exc.broken_pipe:
            return 128 + signal.SIGPIPE
        print(f"{PROG}: error: can't write to stdout: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Terminated as exc:
        print(f"{PROG}: terminated ({exc})", file=sys.stderr)
        return exc.exit_status
    except Exception as exc:
        status = _exit_status(exc)
        if status is None or (args is not None and args.debug):
            raise
        print(f"{PROG}: {'error: ' if status == 2 else ''}{exc}", file=sys.stderr)
        return status


def _exit_status(exc: Exception) -> int | None:
    """2 for a user's mistake (a usage, backend, spec or path error), 1 for a diverged run, None for a bug.

    The library's error classes are imported here, not at the top: one that was raised is loaded already.
    """
    from softmax_rosetta.checks import BackendError
    from softmax_rosetta.results import TrainingDiverged
    from softmax_rosetta.spec import SpecError

    from .files import PathError

    if isinstance(exc, (UsageError, BackendError, SpecError, PathError)):
        return 2
    if isinstance(exc, TrainingDiverged):  # not a usage mistake: the numbers blew up
        return 1
    return None


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (the usage is in --help)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    from . import compare_command, docs_commands, predict, spec_commands, tolerances_command, train
    from .bench import command as bench_command
    from .conform import command as conform_command
    from .diverge import command as diverge_command

    parser = _Parser(
        prog=PROG,
        description="The softmax-classification lesson in PyTorch, JAX and NumPy, checked against each other.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    train.add_parser(sub)
    compare_command.add_parser(sub)
    spec_commands.add_parsers(sub)
    docs_commands.add_parsers(sub)
    bench_command.add_parser(sub)
    predict.add_parser(sub)
    tolerances_command.add_parser(sub)
    diverge_command.add_parser(sub)
    conform_command.add_parser(sub)
    return parser


if __name__ == "__main__":
    sys.exit(main())
