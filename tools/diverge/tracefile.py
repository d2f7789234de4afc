"""Trace files: one run's traced steps (``softmax_rosetta.trace``) as safetensors, to diverge later or elsewhere.

One tensor per step and quantity, named ``step000012/softmax`` (the names of ``QUANTITIES``), in the
run's dtype, as the backend computed it; and string metadata:

    format = "softmax-rosetta-trace", format_version = "1"
    spec, spec_fingerprint          # the spec's name and sha256 of its math (``spec_fingerprint``)
    dtype, backend, variant, device
    machine, platform, python       # the CPU model (/proc/cpuinfo), platform.platform()
    versions                        # JSON: {"numpy": ..., "torch": ...}: the framework's and NumPy's
    settings                        # JSON: the backend's settings (threads, matmul precision, x64, ...)
    steps, epochs                   # JSON lists: the steps kept, in order, and each one's epoch

The step's batch rows are not stored: the spec (same fingerprint) says them (``Spec.batches``).
Any framework reads the file with the ``safetensors`` package alone; ``load_trace`` checks all of it
and refuses a truncated, foreign or inconsistent file in one line naming the field and the value.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import struct
from dataclasses import dataclass

import numpy as np

from softmax_rosetta.spec import DTYPES, Spec
from softmax_rosetta.trace import QUANTITIES, TracedStep

from ..files import atomic_write
from ..options import UsageError

FORMAT = "softmax-rosetta-trace"
FORMAT_VERSION = "1"
SUFFIX = ".safetensors"
MAX_SIZE_MIB = 256  # the default cap on a trace file (and on a run's traces held in memory)
_TENSOR_OVERHEAD = 96  # bytes of safetensors header per tensor: its name, dtype, shape and offsets in JSON
_REQUIRED = ("spec", "spec_fingerprint", "dtype", "backend", "variant", "device", "steps", "epochs")

# The spec fields that make the run what it is (data, labels, initial parameters, optimizer, epochs,
# batches); its name, expected costs, tolerances, test rows and the file's layout don't change a step's bits.
_MATH_FIELDS = (
    "num_classes",
    "optimizer",
    "lr",
    "epochs",
    "momentum",
    "dampening",
    "nesterov",
    "weight_decay",
    "batch_size",
    "shuffle",
    "shuffle_seed",
)
_MATH_ARRAYS = ("x_train", "y_train", "init_weight", "init_bias")


def spec_fingerprint(spec: Spec) -> str:
    """``sha256:`` and 64 hex digits of the spec's math: the same on every machine for the same run."""
    h = hashlib.sha256()
    h.update(json.dumps({name: getattr(spec, name) for name in _MATH_FIELDS}, sort_keys=True).encode())
    for name in _MATH_ARRAYS:
        arr = np.asarray(getattr(spec, name))
        arr = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))
        h.update(f"{name}:{arr.dtype.str}:{arr.shape};".encode())
        h.update(arr.tobytes())
    return f"sha256:{h.hexdigest()}"


def tensor_name(step: int, quantity: str) -> str:
    return f"step{step:06d}/{quantity}"


def quantity_shapes(spec: Spec, rows: int) -> dict[str, tuple[int, ...]]:
    """Each quantity's shape for a step on ``rows`` rows."""
    c, d = spec.init_weight.shape
    per_row = {"logits": (rows, c), "softmax": (rows, c), "log_softmax": (rows, c)}
    params = {"grad_weight": (c, d), "grad_bias": (c,), "weight": (c, d), "bias": (c,)}
    return {q: per_row.get(q, params.get(q, ())) for q in QUANTITIES}


def step_rows(spec: Spec) -> list[tuple[int, np.ndarray]]:
    """(epoch, the batch's rows) of every step of the run, in order (as ``softmax_rosetta.trace`` walks it)."""
    return [(epoch, rows) for epoch in range(spec.epochs + 1) for rows in spec.batches(epoch)]


def estimate_size(spec: Spec, dtype: str, steps: list[int]) -> int:
    """Bytes of a trace file holding ``steps``: every tensor's data and header entry, and the metadata."""
    itemsize = np.dtype(dtype).itemsize
    layout = step_rows(spec)
    total = 4096 + 16 * len(steps)  # the metadata, the step and epoch lists
    for step in steps:
        shapes = quantity_shapes(spec, len(layout[step][1]))
        total += sum(itemsize * int(np.prod(s)) + _TENSOR_OVERHEAD for s in shapes.values())
    return total


def check_size(estimate: int, cap_mib: float, what: str) -> None:
    """Refuse, in one line and before running, a trace over the cap."""
    if estimate > cap_mib * 2**20:
        raise UsageError(
            f"--max-size: {what} would take about {estimate / 2**20:.1f} MiB, over the cap of {cap_mib:g} MiB; "
            "keep fewer steps (--steps A:B, --every N) or raise --max-size"
        )


def machine_metadata() -> dict[str, str]:
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    return {"machine": cpu or platform.machine(), "platform": platform.platform(), "python": platform.python_version()}


def trace_metadata(
    spec: Spec,
    dtype: str,
    backend: str,
    variant: str,
    device: str,
    versions: dict[str, str],
    steps: list[TracedStep],
    settings: dict[str, object] | None = None,
) -> dict[str, str]:
    """The file's metadata; ``settings``: ``Backend.settings()`` (threads, matmul precision, x64, ...)."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "spec": spec.name,
        "spec_fingerprint": spec_fingerprint(spec),
        "dtype": dtype,
        "backend": backend,
        "variant": variant,
        "device": device,
        **machine_metadata(),
        "versions": json.dumps({"numpy": np.__version__, **versions}, sort_keys=True),
        "settings": json.dumps(settings or {}, sort_keys=True, default=str),
        "steps": json.dumps([s.step for s in steps]),
        "epochs": json.dumps([s.epoch for s in steps]),
    }


def save_trace(path: str, steps: list[TracedStep], metadata: dict[str, str]) -> None:
    """Write the traced steps and metadata to ``path`` atomically (a reader never sees half a file)."""
    from safetensors.numpy import save

    tensors = {
        tensor_name(s.step, q): np.asarray(s.values[q], order="C") for s in steps for q in QUANTITIES
    }  # 0-d kept
    atomic_write(path, save(tensors, metadata=metadata))


@dataclass(frozen=True)
class TraceFile:
    path: str
    metadata: dict[str, str]
    steps: list[TracedStep]

    @property
    def versions(self) -> dict[str, str]:
        return dict(json.loads(self.metadata.get("versions", "{}")))


def read_metadata(path: str) -> dict[str, str]:
    """The file's metadata, checked to be ours: one line naming the file and what is wrong otherwise."""
    where = f"trace {path!r}"
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            size = os.fstat(f.fileno()).st_size
            if len(head) < 8:
                raise UsageError(f"{where}: not a safetensors file ({size} bytes, too short for its header)")
            (length,) = struct.unpack("<Q", head)
            if length > size - 8:
                raise UsageError(f"{where}: not a safetensors file, or truncated (its header says {length} bytes)")
            header = json.loads(f.read(length))
    except OSError as exc:
        raise UsageError(f"{where}: can't read it: {exc.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise UsageError(f"{where}: not a safetensors file (its header is not JSON)") from None
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise UsageError(f"{where}: not a softmax-rosetta trace (metadata format {found!r}, expected {FORMAT!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise UsageError(
            f"{where}: format_version {meta.get('format_version')!r}, this version reads {FORMAT_VERSION!r}"
        )
    for key in _REQUIRED:
        if not isinstance(meta.get(key), str):
            raise UsageError(f"{where}: metadata field {key!r} is missing")
    if meta["dtype"] not in DTYPES:
        raise UsageError(f"{where}: metadata field 'dtype' is {meta['dtype']!r}; known: {', '.join(DTYPES)}")
    return {str(k): str(v) for k, v in meta.items()}


def _int_list(meta: dict[str, str], key: str, where: str) -> list[int]:
    try:
        values = json.loads(meta[key])
    except json.JSONDecodeError:
        values = None
    if not isinstance(values, list) or not all(isinstance(v, int) and v >= 0 for v in values):
        raise UsageError(f"{where}: metadata field {key!r} is {meta[key][:40]!r}, expected a list of integers >= 0")
    return values


def load_trace(path: str) -> TraceFile:
    """Read a trace file, every tensor checked to be there, finite in shape and in the file's dtype."""
    from safetensors.numpy import load

    where = f"trace {path!r}"
    meta = read_metadata(path)
    steps, epochs = _int_list(meta, "steps", where), _int_list(meta, "epochs", where)
    if len(steps) != len(epochs) or steps != sorted(set(steps)):
        raise UsageError(f"{where}: metadata field 'steps' is not increasing, or not as long as 'epochs'")
    with open(path, "rb") as f:
        data = f.read()
    try:
        tensors = load(data)
    except Exception as exc:  # safetensors' own error (SafetensorError): a truncated or damaged file
        raise UsageError(f"{where}: truncated or damaged: {str(exc).splitlines()[0]}") from None
    dtype = np.dtype(meta["dtype"])
    out = []
    for step, epoch in zip(steps, epochs, strict=True):
        values = {}
        for q in QUANTITIES:
            name = tensor_name(step, q)
            if name not in tensors:
                raise UsageError(f"{where}: tensor {name!r} is missing (the metadata lists step {step})")
            if tensors[name].dtype != dtype:
                raise UsageError(f"{where}: tensor {name!r} is {tensors[name].dtype}, the file says {dtype}")
            values[q] = tensors[name]
        out.append(TracedStep(step, epoch, values))
    return TraceFile(path, meta, out)


def check_against_spec(trace: TraceFile, spec: Spec) -> None:
    """The file's run is ``spec``'s: the same fingerprint, steps within the run, every tensor in its shape."""
    where = f"trace {trace.path!r}"
    if trace.metadata["spec_fingerprint"] != spec_fingerprint(spec):
        raise UsageError(
            f"{where}: spec_fingerprint {trace.metadata['spec_fingerprint'][:19]}... is not the spec "
            f"{spec.name!r}'s ({spec_fingerprint(spec)[:19]}...): the traces are of different runs"
        )
    layout = step_rows(spec)
    for s in trace.steps:
        if s.step >= len(layout):
            raise UsageError(f"{where}: step {s.step} is outside the run's steps 0..{len(layout) - 1}")
        if s.epoch != layout[s.step][0]:
            raise UsageError(
                f"{where}: step {s.step} is of epoch {s.epoch}, in the spec's run of epoch {layout[s.step][0]}"
            )
        shapes = quantity_shapes(spec, len(layout[s.step][1]))
        for q in QUANTITIES:
            if s.values[q].shape != shapes[q]:
                raise UsageError(
                    f"{where}: tensor {tensor_name(s.step, q)!r} has shape {s.values[q].shape}, "
                    f"the spec's run {shapes[q]}"
                )
