"""``softmax-rosetta predict``: a saved model's class and probabilities for each row of a CSV file.

    softmax-rosetta train torch --save model.safetensors
    softmax-rosetta predict --model model.safetensors --input x.csv --backend jax

The input is comma-separated numbers, one row per sample and one column per feature; blank lines
and lines starting with ``#`` are skipped, and a first line with no number in it is taken for a
header of column names. A UTF-8 byte-order mark at the start and CRLF line endings (a file from
Excel or Windows) are read as they are meant; an empty cell (``1,2,,4``, or a trailing comma) is
an error naming its line and column. The output, on stdout, is CSV: a header ``row,class,p0,p1,...``
and one line per input row (rows counted from 0), each probability printed in full in the run's
dtype. A row whose logits could overflow the dtype is refused, naming its line, never answered
with NaN (``checks.predict_inputs``). What ran goes to stderr on one ``#`` line, the model's
metadata and the paths in it with control characters escaped. The model file's format:
``softmax_rosetta.models``.

The output is written in one piece once every row is computed (an error leaves stdout empty).
When the reader goes away early (``| head -1``), the write fails and the command exits 141 as
SIGPIPE would, once the output is more than the pipe holds (64 KiB on Linux); an output the pipe
takes whole is written before the reader can close it, and the command ends 0, as ``seq 3 | head
-1`` does (HANDOFF.md has the measurements).
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any, TextIO

import numpy as np

from softmax_rosetta.checks import RowError
from softmax_rosetta.models import ModelError, SavedModel, load_model, printable
from softmax_rosetta.registry import BACKENDS, get_backend

from .options import UsageError


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """The ``predict`` subcommand, added to the command line's subparsers."""
    predict = sub.add_parser(
        "predict",
        help="a saved model's class and probabilities for each row of a CSV file",
        description="Load a model saved by `softmax-rosetta train BACKEND --save FILE` (any backend's) and print, "
        "as CSV on stdout, each input row's class and class probabilities: the chosen backend builds its "
        "own model from the saved weight and bias, runs its forward, then softmax. The input is a CSV "
        "file of numbers, one column per feature ('#' lines skipped; an optional header line).",
    )
    add = predict.add_argument
    add("--model", required=True, metavar="FILE", help="a .safetensors file written by train --save")
    add("--input", required=True, metavar="CSV", help="the rows to classify: comma-separated numbers, one per feature")
    add("--backend", default="numpy", help=f"the backend that runs the model: {', '.join(BACKENDS)} (default: numpy)")
    add("--dtype", default=None, help="float32 or float64 (default: the model's own)")
    add("--device", default="cpu", help="cpu (default) or cuda (torch, jax)")
    add("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks for errors")
    predict.set_defaults(run=main)
    return predict


def main(args: argparse.Namespace, stdout: TextIO | None = None) -> int:
    stdout = stdout or sys.stdout
    try:
        model = load_model(args.model)
    except ModelError as exc:
        raise UsageError(f"--model {exc}") from None
    be = get_backend(args.backend, device=args.device, dtype=args.dtype or model.dtype)
    x, lines = read_input(args.input, model.num_features, be.np_dtype)
    try:
        probabilities = be.predict_proba(model.weight, model.bias, x)
    except RowError as exc:
        advice = "; try --dtype float64" if be.dtype != "float64" else "; scale the features down"
        raise UsageError(f"--input {printable(args.input)}: line {lines[exc.row]}: {exc.detail}{advice}") from None
    print(f"# {banner(model, be.name, be.dtype, be.device, args.input, len(x))}", file=sys.stderr)
    if model.metadata.get("standardized") == "true":
        print(
            f"# note: spec {printable(model.metadata.get('spec', '?'))} standardises its features; "
            "give rows scaled as its training rows were",
            file=sys.stderr,
        )
    stdout.write(format_csv(probabilities))
    return 0


def banner(model: SavedModel, backend: str, dtype: str, device: str, source: str, rows: int) -> str:
    """What is about to run, in one line."""
    return (
        f"softmax-rosetta predict: {printable(model.path)} ({model.describe()}) through {backend}, {dtype} on "
        f"{device}; {rows} row{'s' if rows != 1 else ''} of {printable(source)}"
    )


def format_csv(probabilities: np.ndarray) -> str:
    """``row,class,p0,p1,...`` and one line per row: the most probable class, then every probability."""
    classes = probabilities.shape[1]
    lines = [",".join(["row", "class", *(f"p{k}" for k in range(classes))])]
    for i, p in enumerate(probabilities):
        lines.append(",".join([str(i), str(int(np.argmax(p))), *(str(v) for v in p)]))
    return "\n".join(lines) + "\n"


def read_rows(path: str, features: int, dtype: np.dtype) -> np.ndarray:
    """The input file's rows as an array (N, features) in ``dtype``; one-line errors naming the file and the cell."""
    return read_input(path, features, dtype)[0]


def read_input(path: str, features: int, dtype: np.dtype) -> tuple[np.ndarray, list[int]]:
    """(the input file's rows as an array (N, features) in ``dtype``, each row's line number in the file)."""
    where = f"--input {printable(path)}"
    try:
        with open(path, encoding="utf-8-sig") as f:  # -sig: a byte-order mark at the start is not part of a cell
            text = f.read()
    except FileNotFoundError:
        raise UsageError(f"{where}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{where}: is a folder, not a CSV file") from None
    except UnicodeDecodeError:
        raise UsageError(f"{where}: not a text file (expected comma-separated numbers)") from None
    except OSError as exc:
        raise UsageError(f"{where}: can't read it ({exc.strerror})") from None
    rows: list[list[float]] = []
    numbers: list[int] = []
    first = True
    for lineno, line in enumerate(text.split("\n"), 1):  # universal newlines made \r\n and \r into \n
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        cells = [c.strip() for c in stripped.split(",")]
        values = [_number(c) for c in cells]
        if first and all(v is None for v in values):
            first = False  # a header: column names
            continue
        first = False
        for column, (cell, value) in enumerate(zip(cells, values, strict=True), 1):
            at = f"{where}: line {lineno}, column {column}"
            if not cell:
                trailing = " (a comma at the end of the line?)" if column == len(cells) else ""
                raise UsageError(f"{at}: empty cell{trailing}")
            if value is None:
                raise UsageError(f"{at}: not a number: {cell!r}")
            if not math.isfinite(value):
                raise UsageError(f"{at}: non-finite value {cell!r}")
            with np.errstate(over="ignore"):
                if not np.isfinite(dtype.type(value)):
                    raise UsageError(f"{at}: {cell} is too large for {dtype}")
        if len(cells) != features:
            raise UsageError(
                f"{where}: line {lineno} has {len(cells)} value{'s' if len(cells) != 1 else ''} "
                f"but the model takes {features} features"
            )
        rows.append([v for v in values if v is not None])
        numbers.append(lineno)
    if not rows:
        raise UsageError(f"{where}: no rows of numbers in it")
    return np.array(rows, dtype=dtype), numbers


def _number(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None
