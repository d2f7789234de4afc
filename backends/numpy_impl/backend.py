"""Adapter: the NumPy lesson behind ``softmax_rosetta.get_backend("numpy")``."""

import numpy as np

from softmax_rosetta.backend import Backend, host_settings

from . import functional
from .fast import train_fast
from .train import train


class NumpyBackend(Backend):
    name = "numpy"
    framework = "numpy"
    variants = ("lesson",)
    # fast.py's variants train full-batch plain SGD only (the benchmark's workloads), so they are
    # not among the class's variants, the ones ``compare`` runs on every spec; an instance
    # accepts them too: be.train(spec, variant="fast"), softmax-rosetta train --variant fast.
    fast_variants = ("fast",)

    def __init__(self, device="cpu", dtype="float32"):
        super().__init__(device, dtype)
        self.variants = (*type(self).variants, *self.fast_variants)

    @classmethod
    def versions(cls):
        return {"numpy": np.__version__}

    def settings(self):
        return {**host_settings(), "blas": _blas_name()}

    def _to_native(self, array):
        return array

    def _to_numpy(self, value):
        return np.asarray(value)

    @property
    def _functional(self):
        return functional

    def _train(self, x, y, weight, bias, lr, epochs, variant, log_every, log, **options):
        # lr in the data's dtype, so a float32 run stays float32 throughout (the other options
        # stay Python floats: NumPy casts them to the array's dtype, as torch does)
        loop = train_fast if variant == "fast" else train
        # A diverging run overflows on its way to inf: softmax_rosetta.backend reports that in one
        # line (TrainingDiverged), so NumPy's overflow warnings would only repeat it.
        with np.errstate(over="ignore", invalid="ignore"):
            return loop(x, y, weight, bias, x.dtype.type(lr), epochs, log_every, log, **options)


def _blas_name():
    try:
        info = np.show_config(mode="dicts")
        blas = info["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # older numpy: not important enough to fail over
        return "unknown"
