"""What ``diverge`` compares: ``A`` and ``B``, each a run to trace now or a trace file, and the steps to keep.

    backend[:variant][@device]     a run traced here: ``torch``, ``numpy:lesson``, ``torch@cuda``
    FILE.safetensors               a trace saved before, here or on another machine (tracefile.py)

Only the ``lesson`` variant has a traced step (``Backend.traced_steps``, the lesson loop's step with
its intermediates kept); another variant is refused in one line saying so.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from softmax_rosetta.registry import BACKENDS, backend_class
from softmax_rosetta.spec import Spec, SpecError, load_spec
from softmax_rosetta.trace import TracedStep, trace

from ..options import UsageError
from . import tracefile

TRACEABLE = "lesson"


@dataclass(frozen=True)
class RunSource:
    backend: str
    variant: str = TRACEABLE
    device: str = "cpu"

    @property
    def label(self) -> str:
        return self.backend + ("" if self.device == "cpu" else f"@{self.device}")


@dataclass(frozen=True)
class FileSource:
    path: str


@dataclass
class Trace:
    """One side of the comparison: its label, where it comes from, its steps and its file's metadata."""

    label: str
    origin: str  # "traced here" or the file's path
    steps: list[TracedStep]
    metadata: dict[str, str] = field(default_factory=dict)


def is_file_argument(text: str) -> bool:
    return text.endswith(tracefile.SUFFIX) or os.sep in text or os.path.isfile(text)


def parse_source(text: str, field_name: str) -> RunSource | FileSource:
    """``A`` or ``B``: a trace file's path, or ``backend[:variant][@device]`` of a traceable variant."""
    if is_file_argument(text):
        if not os.path.isfile(text):
            raise UsageError(f"{field_name}: no such trace file {text!r}")
        return FileSource(text)
    rest, _, device = text.partition("@")
    name, _, variant = rest.partition(":")
    if name not in BACKENDS:
        raise UsageError(
            f"{field_name}: unknown backend {name!r}; known: {', '.join(BACKENDS)}, or a .safetensors trace"
        )
    if "@" in text and not device:
        raise UsageError(f"{field_name}: empty device in {text!r}; write backend@device, e.g. torch@cuda")
    cls = backend_class(name)  # BackendUnavailable (one line, the extra to install) when its framework is missing
    variant = variant or TRACEABLE
    if variant not in cls.variants:
        raise UsageError(f"{field_name}: unknown variant {variant!r} for {name}; known: {', '.join(cls.variants)}")
    if variant != TRACEABLE:
        raise UsageError(
            f"{field_name}: variant {variant!r} can't be traced; only {TRACEABLE!r} can (its step is the lesson "
            f"loop's, with every intermediate kept): {name}:{TRACEABLE}"
        )
    device = device or "cpu"
    if device not in cls.known_devices():
        raise UsageError(f"{field_name}: unknown device {device!r} for {name}; known: {', '.join(cls.known_devices())}")
    available = cls.available_devices()
    if device not in available:
        raise UsageError(
            f"{field_name}: {name} can't use {device!r} on this machine; available: {', '.join(available)}"
        )
    return RunSource(name, variant, device)


def parse_steps(text: str, total: int) -> list[int]:
    """``--steps``: ``N`` (one step) or ``START:END[:STRIDE]`` (Python's range, END exclusive, either end
    may be left out), every step within the run's 0..total-1."""
    last = total - 1
    parts = text.split(":")
    if len(parts) > 3 or not all(p.strip().isdigit() or (p.strip() == "" and len(parts) > 1) for p in parts):
        raise UsageError(f"--steps: {text!r}: expected N or START:END (a range, END exclusive), integers >= 0")
    if len(parts) == 1:
        step = int(parts[0])
        if step > last:
            raise UsageError(f"--steps: step {step} is outside the run's steps 0..{last}")
        return [step]
    start = int(parts[0]) if parts[0].strip() else 0
    end = int(parts[1]) if parts[1].strip() else total
    stride = int(parts[2]) if len(parts) == 3 and parts[2].strip() else 1
    if stride == 0:
        raise UsageError(f"--steps: {text!r}: the stride must be >= 1")
    if end > total or start > last:
        raise UsageError(f"--steps: {text!r} is outside the run's steps 0..{last} (END is exclusive: at most {total})")
    steps = list(range(start, end, stride))
    if not steps:
        raise UsageError(f"--steps: {text!r} selects no step")
    return steps


def every_steps(every: int, total: int) -> list[int]:
    """``--every N``: steps 0, N, 2N, ... and the last one (the final parameters)."""
    return sorted({*range(0, total, every), total - 1})


def describe_steps(steps: list[int]) -> str:
    if not steps:
        return "no step"
    if steps == list(range(steps[0], steps[-1] + 1)):
        return f"step {steps[0]}" if len(steps) == 1 else f"steps {steps[0]}..{steps[-1]}"
    return f"{len(steps)} steps from {steps[0]} to {steps[-1]}"


def resolve_spec(spec_arg: str | None, files: list[tracefile.TraceFile]) -> Spec:
    """The spec of the comparison: ``--spec`` (default seed), or the trace files' own, by name."""
    if spec_arg is not None or not files:
        spec = load_spec(spec_arg or "seed")
    else:
        name = files[0].metadata["spec"]
        try:
            spec = load_spec(name)
        except SpecError:
            raise UsageError(
                f"trace {files[0].path!r}: its spec {name!r} is not a bundled spec here; give its file with --spec PATH"
            ) from None
    for f in files:
        tracefile.check_against_spec(f, spec)
    return spec


def resolve_dtype(dtype_arg: str | None, files: list[tracefile.TraceFile]) -> str:
    dtypes = {f.metadata["dtype"] for f in files}
    for f in files:
        if dtype_arg is not None and f.metadata["dtype"] != dtype_arg:
            raise UsageError(f"--dtype: {dtype_arg}, but trace {f.path!r} is {f.metadata['dtype']}")
    if len(dtypes) > 1:
        a, b = files
        raise UsageError(f"dtype: trace {a.path!r} is {a.metadata['dtype']}, trace {b.path!r} is {b.metadata['dtype']}")
    return dtype_arg or (dtypes.pop() if dtypes else "float32")


def resolve_steps(asked: list[int] | None, total: int, files: list[tracefile.TraceFile]) -> list[int]:
    """The steps to compare: those asked for (each held by every file), else the steps the files share, else all."""
    held = [[s.step for s in f.steps] for f in files]
    if asked is not None:
        for f, steps in zip(files, held, strict=True):
            missing = sorted(set(asked) - set(steps))
            if missing:
                raise UsageError(
                    f"--steps: step {missing[0]} is not in trace {f.path!r} (it holds {describe_steps(steps)})"
                )
        return asked
    if not files:
        return list(range(total))
    shared = sorted(set.intersection(*(set(s) for s in held)))
    if not shared:
        raise UsageError(
            f"steps: the traces share no step ({files[0].path!r} holds {describe_steps(held[0])}, "
            f"{files[1].path!r} {describe_steps(held[1])})"
        )
    return shared


def run_trace(source: RunSource, spec: Spec, dtype: str, steps: list[int]) -> tuple[Trace, dict[str, str]]:
    """Trace the source's run on ``steps``; with the metadata its trace file would have."""
    cls = backend_class(source.backend)
    backend = cls(device=source.device, dtype=dtype)
    traced = trace(backend, spec, steps)
    versions, settings = backend.versions(), backend.settings()
    meta = tracefile.trace_metadata(
        spec, dtype, source.backend, source.variant, source.device, versions, traced, settings
    )
    return Trace(source.label, "traced here", traced, meta), meta


def file_trace(f: tracefile.TraceFile, steps: list[int]) -> Trace:
    wanted = set(steps)
    meta = f.metadata
    device = "" if meta["device"] == "cpu" else f"@{meta['device']}"
    return Trace(
        f"{meta['backend']}{device} from {os.path.basename(f.path)}",
        f.path,
        [s for s in f.steps if s.step in wanted],
        meta,
    )
