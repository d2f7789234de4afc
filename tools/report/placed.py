"""Saved runs' identity: which experiment (``spec_hash``) and where a run was made (``PlacedRun``)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

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
        variant = "" if self.variant == "lesson" else f":{self.variant}"
        return f"{self.backend}{variant} {self.device} on {self.host}"


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
