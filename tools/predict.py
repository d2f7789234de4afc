"""``softmax-rosetta predict``: a saved model's class and probabilities for each row of a CSV file.

    softmax-rosetta train torch --save model.safetensors
    softmax-rosetta predict --model model.safetensors --input x.csv --backend jax

The input is comma-separated numbers, one row per sample and one column per feature; blank lines
and lines starting with ``#`` are skipped, and a first line with no number in it is taken for a
header of column names. The output, on stdout, is CSV: a header ``row,class,p0,p1,...`` and one
line per input row (rows counted from 0), each probability printed in full in the run's dtype.
What ran goes to stderr on one ``#`` line. The model file's format: ``softmax_rosetta.models``.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any, TextIO

import numpy as np

from softmax_rosetta.models import ModelError, SavedModel, load_model
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
    x = read_rows(args.input, model.num_features, be.np_dtype)
    probabilities = be.predict_proba(model.weight, model.bias, x)
    print(f"# {banner(model, be.name, be.dtype, be.device, args.input, len(x))}", file=sys.stderr)
    if model.metadata.get("standardized") == "true":
        print(
            f"# note: spec {model.metadata.get('spec', '?')} standardises its features; "
            "give rows scaled as its training rows were",
            file=sys.stderr,
        )
    stdout.write(format_csv(probabilities))
    return 0


def banner(model: SavedModel, backend: str, dtype: str, device: str, source: str, rows: int) -> str:
    """What is about to run, in one line."""
    return (
        f"softmax-rosetta predict: {model.path} ({model.describe()}) through {backend}, {dtype} on {device}; "
        f"{rows} row{'s' if rows != 1 else ''} of {source}"
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
    where = f"--input {path}"
    try:
        with open(path, encoding="utf-8") as f:
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
    first = True
    for lineno, line in enumerate(text.splitlines(), 1):
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
            if value is None:
                raise UsageError(f"{where}: line {lineno}, column {column}: not a number: {cell!r}")
            if not math.isfinite(value):
                raise UsageError(f"{where}: line {lineno}, column {column}: non-finite value {cell!r}")
            with np.errstate(over="ignore"):
                if not np.isfinite(dtype.type(value)):
                    raise UsageError(f"{where}: line {lineno}, column {column}: {cell} is too large for {dtype}")
        if len(cells) != features:
            raise UsageError(
                f"{where}: line {lineno} has {len(cells)} value{'s' if len(cells) != 1 else ''} "
                f"but the model takes {features} features"
            )
        rows.append([v for v in values if v is not None])
    if not rows:
        raise UsageError(f"{where}: no rows of numbers in it")
    return np.array(rows, dtype=dtype)


def _number(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None
