"""A saved run's identity: which experiment (``spec_hash``), which run where (``RunIdentity``, its
file's name) and a run named by its machine (``PlacedRun``).

Two saved runs are the same run when their identities are equal: the same spec (hash), host label,
backend, variant, dtype, device and number of data-parallel workers. Each identity has a file name
of its own (``file_name``): a readable slug of the identity and a short hash of all of it, so labels
that differ only in characters a file name can't hold (``a/b``, ``a b``, ``a_b``) get two files.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from softmax_rosetta.results import TrainResult
from softmax_rosetta.spec import Spec


@dataclass
class PlacedRun(TrainResult):
    """A training run and where it was made: its label names the machine too ("torch cpu on runner-gpu")."""

    host: str = ""

    @property
    def owner(self) -> str:
        """The backend process it came from, on its machine: "jax cpu on macos-14"."""
        return f"{self.backend} {self.device} on {self.host}"

    @property
    def label(self) -> str:
        """ "torch cpu on runner-gpu", "jax:fused cpu on macos-14", "torch:x2 cpu on m" (2 workers)."""
        return f"{super().label} {self.device} on {self.host}"


_HASHED_FIELDS = (
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
    "expected_every",
    "expected_costs",
)
_HASHED_ARRAYS = ("x_train", "y_train", "x_test", "y_test", "init_weight", "init_bias")


def spec_hash(spec: Spec) -> str:
    """sha256 of what the experiment is (data, initial parameters, optimizer, expected costs),
    not of how its file is written: comments, layout and the name don't change it."""
    h = hashlib.sha256()
    fields = {name: getattr(spec, name) for name in _HASHED_FIELDS}
    h.update(json.dumps(fields, sort_keys=True).encode())
    for name in _HASHED_ARRAYS:
        arr = getattr(spec, name)
        if arr is None:
            h.update(f"{name}:none;".encode())
            continue
        arr = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))
        h.update(f"{name}:{arr.dtype.str}:{arr.shape};".encode())
        h.update(arr.tobytes())
    return f"sha256:{h.hexdigest()}"


class RunIdentity(NamedTuple):
    """What makes a saved run this run: re-saving the same identity replaces its file, nothing else does."""

    spec_hash: str
    host: str
    backend: str
    variant: str
    dtype: str
    device: str
    workers: int

    @classmethod
    def of(cls, data: dict[str, Any]) -> RunIdentity:
        """The identity of a saved run's content (``format.saved_run``'s dict, checked or not)."""
        run = data["run"]
        return cls(
            data["spec"]["hash"],
            data["host"],
            run["backend"],
            run["variant"],
            run["dtype"],
            run["device"],
            run.get("workers", 1),  # files older than data-parallel runs: one process
        )

    def describe(self) -> str:
        """ "torch:x2 cpu float32 on runner-gpu": the run, in words, for a message."""
        variant = "" if self.variant == "lesson" else f":{self.variant}"
        workers = "" if self.workers == 1 else f":x{self.workers}"
        return f"{self.backend}{variant}{workers} {self.device} {self.dtype} on {self.host}"

    def digest(self) -> str:
        """10 hex digits of sha256 of the whole identity: a file name's unique part."""
        text = json.dumps(list(self), ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]


SLUG_HOST = 40  # at most this many characters of the host label in a file name


def slug(text: str, limit: int = SLUG_HOST) -> str:
    """A readable file-name part: letters (accents dropped), digits, ``.``, ``_`` and ``-``; others ``_``."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", ascii_text).strip("._-")
    return cleaned[:limit].rstrip("._-")


def file_name(identity: RunIdentity) -> str:
    """``HOST-BACKEND-VARIANT[-xK]-DTYPE-DEVICE-HASH.json``: every part a slug (a host that slugs to
    nothing is left out), ``xK`` for K data-parallel workers, HASH ``RunIdentity.digest``."""
    parts = [identity.host, identity.backend, identity.variant]
    parts += [f"x{identity.workers}"] if identity.workers != 1 else []
    parts += [identity.dtype, identity.device]
    readable = [s for s in (slug(p) for p in parts) if s]
    return "-".join([*readable, identity.digest()]) + ".json"
