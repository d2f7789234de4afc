"""A trained classifier kept in a file: its weight, its bias and what made them, as safetensors.

    from softmax_rosetta import get_backend, load_spec
    from softmax_rosetta.models import load_model, save_model

    spec = load_spec("seed")
    result = get_backend("torch").train(spec)
    save_model("model.safetensors", result, spec=spec)   # the CLI: softmax-rosetta train torch --save FILE
    model = load_model("model.safetensors")              # model.weight (C, D), model.bias (C,), model.metadata
    get_backend("jax").predict_proba(model.weight, model.bias, x)   # any backend, any saver

The file is safetensors (a JSON header, then the raw arrays): two tensors, ``weight`` (C, D),
stored (out, in) as torch's ``nn.Linear`` stores it, and ``bias`` (C,), in the run's dtype; and
string metadata (``METADATA``). Every framework reads it without this package:
``safetensors.torch.load_file(path)``, ``safetensors.flax.load_file(path)``,
``safetensors.numpy.load_file(path)``, and ``safe_open(path, "np").metadata()`` for the metadata.
The state dict of a plain ``nn.Linear`` saved with ``safetensors.torch.save_file`` loads here too.

A file is written to a temporary name beside it and renamed over the path, so a reader never sees
half of one; an existing file at the path is replaced, as ``torch.save`` and ``np.save`` do, keeping
its mode, and a symbolic link is written through to its target (``softmax_rosetta.atomic``).
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np

from .atomic import atomic_write, final_target, probe_folder
from .registry import backend_class
from .results import TrainResult
from .spec import Spec

FORMAT = "softmax-rosetta-model"
FORMAT_VERSION = "1"
TENSORS = ("weight", "bias")
#: the metadata a saved model carries (every value a string, as safetensors requires)
METADATA = (
    "format",
    "format_version",
    "spec",
    "standardized",
    "backend",
    "variant",
    "dtype",
    "device",
    "epochs",
    "lr",
    "final_cost",
    "train_accuracy",
    "test_accuracy",
    "num_classes",
    "num_features",
    "versions",
)

__all__ = [
    "FORMAT",
    "METADATA",
    "ModelError",
    "SavedModel",
    "check_destination",
    "load_model",
    "printable",
    "save_model",
]


class ModelError(ValueError):
    """A model file that can't be written or read; the message names the file and what is wrong."""


@dataclass(frozen=True, eq=False)
class SavedModel:
    """A classifier read from a file: weight (C, D), bias (C,), and the file's metadata (strings)."""

    weight: np.ndarray
    bias: np.ndarray
    metadata: dict[str, str] = field(default_factory=dict)
    path: str = ""

    @property
    def num_classes(self) -> int:
        return int(self.weight.shape[0])

    @property
    def num_features(self) -> int:
        return int(self.weight.shape[1])

    @property
    def dtype(self) -> str:
        return str(self.weight.dtype)

    def describe(self) -> str:
        """One line: what trained it and its shape, as far as the metadata says (control characters escaped)."""
        m = {k: printable(v) for k, v in self.metadata.items()}
        line = f"{self.num_features} features -> {self.num_classes} classes, {self.dtype}"
        if "backend" in m:
            line += f"; trained by {m['backend']} {m.get('variant', '')}".rstrip()
            line += "".join(f", {what} {m[k]}" for k, what in (("spec", "spec"), ("epochs", "epochs")) if k in m)
        return line


def printable(text: str) -> str:
    """``text`` with what a terminal would act on escaped as ``repr`` escapes it (``\\n``, ``\\x1b``,
    ``\\u202e``): a file's metadata, or a path, shown on one line as it is."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def check_destination(path: str | os.PathLike) -> str:
    """The path as a string, if a model file can be written there; ``ModelError`` naming what is wrong.

    Call it before a long run, so that the run isn't lost to a typo in the path: an empty path, a
    folder, a symbolic link that leads nowhere, a folder that doesn't exist or can't be written
    (a file is made there and removed: the one sure test) are refused. A link that leads to a file
    is written through (``atomic_write``), so it is the target's folder that is checked.
    """
    path = os.fspath(path)
    where = printable(path)
    if not path:
        raise ModelError("'': empty path; give a file name such as model.safetensors")
    if os.path.isdir(path):
        such = printable(os.path.join(path, "model.safetensors"))
        raise ModelError(f"{where}: is a folder; give a file name such as {such}")
    if os.path.islink(path) and not os.path.exists(path):
        raise ModelError(f"{where}: is a symbolic link to {os.readlink(path)!r}, which does not exist")
    folder = os.path.dirname(final_target(path)) or "."
    if not os.path.isdir(folder):
        raise ModelError(f"{where}: no such folder {printable(folder)!r}")
    try:
        probe_folder(folder)
    except OSError as exc:
        raise ModelError(f"{where}: can't write in folder {printable(folder)!r} ({exc.strerror or exc})") from None
    return path


def save_model(path: str | os.PathLike, result: TrainResult, *, spec: Spec | None = None) -> None:
    """Write a run's final weight and bias, in its dtype, with metadata saying what made them."""
    import safetensors.numpy

    path = check_destination(path)
    weight, bias = (np.ascontiguousarray(a) for a in (result.weight, result.bias))
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "spec": result.spec,
        "backend": result.backend,
        "variant": result.variant,
        "dtype": result.dtype,
        "device": result.device,
        "epochs": str(result.epochs),
        "lr": repr(float(result.lr)),
        "final_cost": repr(float(result.costs[-1])) if len(result.costs) else "",
        "train_accuracy": repr(float(result.accuracy)),
        "num_classes": str(weight.shape[0]),
        "num_features": str(weight.shape[1]),
        "versions": json.dumps(_versions(result.backend)),
    }
    if result.test_accuracy is not None:
        metadata["test_accuracy"] = repr(float(result.test_accuracy))
    if spec is not None:
        metadata["standardized"] = "true" if spec.standardized else "false"
    atomic_write(path, safetensors.numpy.save({"weight": weight, "bias": bias}, metadata=metadata))


def load_model(path: str | os.PathLike) -> SavedModel:
    """Read a model file, checked: a safetensors file with a float ``weight`` (C, D) and ``bias`` (C,),
    every value finite, and metadata (when it has any) that agrees with the shapes."""
    from safetensors import SafetensorError, safe_open

    path = os.fspath(path)
    where = printable(path)
    if os.path.isdir(path):
        raise ModelError(f"{where}: is a folder, not a model file")
    if not os.path.exists(path):
        raise ModelError(f"{where}: no such file")
    try:
        with safe_open(path, framework="np") as f:
            metadata = dict(f.metadata() or {})
            names = set(f.keys())
            missing = [t for t in TENSORS if t not in names]
            if missing:
                has = ", ".join(printable(n) for n in sorted(names)) or "no tensors"
                raise ModelError(f"{where}: tensor {missing[0]!r} missing (the file has: {has})")
            weight, bias = (f.get_tensor(t) for t in TENSORS)
    except (SafetensorError, OSError, ValueError, TypeError) as exc:  # ValueError: ModelError, or numpy's
        if isinstance(exc, ModelError):
            raise
        raise ModelError(f"{where}: not a safetensors model file ({_first_line(exc)})") from None
    for name, a in (("weight", weight), ("bias", bias)):
        if a.dtype.kind != "f":
            raise ModelError(f"{where}: tensor {name!r} has dtype {a.dtype}; expected floats")
    if weight.ndim != 2 or 0 in weight.shape:
        raise ModelError(f"{where}: tensor 'weight' has shape {weight.shape}; expected (classes, features)")
    if bias.shape != weight.shape[:1]:
        raise ModelError(
            f"{where}: tensor 'bias' has shape {bias.shape}; weight {weight.shape} needs ({weight.shape[0]},)"
        )
    for name, a in (("weight", weight), ("bias", bias)):
        bad = np.argwhere(~np.isfinite(a))
        if len(bad):
            i = tuple(int(k) for k in bad[0])
            raise ModelError(f"{where}: tensor {name!r} has a non-finite value {a[i]} at index {i}")
    for key, n in (("num_classes", weight.shape[0]), ("num_features", weight.shape[1])):
        if key in metadata and metadata[key] != str(n):
            raise ModelError(f"{where}: metadata {key} is {metadata[key]!r} but weight has shape {weight.shape}")
    if metadata.get("standardized", "false") not in ("true", "false"):  # it changes what predict says
        raise ModelError(f"{where}: metadata standardized is {metadata['standardized']!r}; expected 'true' or 'false'")
    return SavedModel(weight=weight, bias=bias, metadata=metadata, path=path)


def _versions(backend: str) -> dict[str, Any]:
    """This package's, the file format's and the backend's framework versions."""
    info: dict[str, Any] = {
        "softmax_rosetta": _version("softmax-rosetta"),
        "safetensors": _version("safetensors"),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    try:
        info.update(backend_class(backend).versions())
    except (ImportError, ValueError):  # a result from elsewhere: its backend isn't here to ask
        pass
    return info


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
