"""Adapter: the NumPy lesson behind ``softmax_rosetta.get_backend("numpy")``."""

import numpy as np

from softmax_rosetta.backend import Backend

from . import functional as functional_module
from .fast import train_compiled, train_fast
from .model import init_model
from .train import make_optimizer, trace_step, train


class NumpyBackend(Backend):
    name = "numpy"
    framework = "numpy"
    display_name = "NumPy"
    title = "NumPy"
    packages = ("numpy",)
    extra = ""
    variants = ("lesson", "fast", "compiled")
    fast_variants = ("fast", "compiled")
    compiling_variants = ("compiled",)  # numba, on a first call (cached on disk after)
    variant_requires = {"compiled": ("numba", "numba")}
    fused_variant = "fast"
    no_data_parallel = "NumPy computes in this process, on its CPU"

    @classmethod
    def versions(cls):
        return {"numpy": np.__version__, **_numba_version()}

    def settings(self):
        return {**super().settings(), "blas": _blas_name()}

    def set_threads(self, threads):
        # NumPy's BLAS takes its threads from the environment at start; numba's pool is set here
        if not self.unavailable("compiled"):
            import numba

            numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]  # set at run time
            return {"numba_threads": numba.get_num_threads(), "numba_threading_layer": _threading_layer()}
        return {}

    def to_native(self, array):
        return np.asarray(array)

    def to_numpy(self, value):
        return np.asarray(value)

    @property
    def functional(self):
        return functional_module

    def train_native(self, x, y, weight, bias, *, lr, epochs, variant="lesson", log_every=0, log=None, **options):
        loop = {"lesson": train, "fast": train_fast, "compiled": train_compiled}[variant]
        # lr in the data's dtype, so a float32 run stays float32 throughout (the other options
        # stay Python floats: NumPy casts them to the array's dtype, as torch does).
        # A diverging run overflows on its way to inf: Backend.train reports that in one
        # line (TrainingDiverged), so NumPy's overflow warnings would only repeat it.
        with np.errstate(over="ignore", invalid="ignore"):
            return loop(x, y, weight, bias, x.dtype.type(lr), epochs, log_every, log, **options)

    def traced_steps(self, weight, bias, *, lr, **options):
        model = init_model(weight, bias)
        optimizer = make_optimizer(model, weight.dtype.type(lr), **options)  # lr in the dtype, as train_native

        def step(x, y):
            with np.errstate(over="ignore", invalid="ignore"):
                return trace_step(model, optimizer, x, y)

        return step

    def predict_native(self, weight, bias, x):
        model = init_model(weight, bias)
        return functional_module.softmax(model(x), axis=1)


def _numba_version():
    """numba's version, where it is installed: the compiled variant's compiler."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return {"numba": version("numba")}
    except PackageNotFoundError:
        return {}


def _threading_layer():
    import numba

    try:
        return numba.threading_layer()
    except ValueError:  # no parallel function has run yet: numba picks the layer then
        return f"not chosen yet ({numba.config.THREADING_LAYER})"  # type: ignore[attr-defined]


def _blas_name():
    try:
        info = np.show_config(mode="dicts")
        blas = info["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # older numpy: not important enough to fail over
        return "unknown"
