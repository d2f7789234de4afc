"""Adapter: the MLX lesson behind ``softmax_rosetta.get_backend("mlx")``."""

import contextlib
import functools
from importlib.metadata import PackageNotFoundError, version

import mlx.core as mx
import numpy as np

from softmax_rosetta.backend import Backend

from . import functional
from .fast import train_compiled, train_fast
from .model import init_model
from .train import make_optimizer, trace_step, train


@contextlib.contextmanager
def on_cpu():
    """Inside: MLX's default stream is the CPU's. float64 exists on MLX's CPU only, and on macOS
    the default device is the GPU (Metal); on Linux (mlx[cpu]) the CPU is the only device."""
    with mx.stream(mx.cpu):
        yield


class _Functional:
    """functional.py as the adapter calls it: each function on the CPU, its result evaluated."""

    def __getattr__(self, name):
        fn = getattr(functional, name)

        @functools.wraps(fn)
        def call(*args, **kwargs):
            with on_cpu():
                out = fn(*args, **kwargs)
                mx.eval(out)
            return out

        setattr(self, name, call)  # found by normal lookup from now on
        return call


class MlxBackend(Backend):
    name = "mlx"
    framework = "mlx"
    display_name = "MLX"
    title = "MLX"
    packages = ("mlx",)
    extra = "mlx"
    variants = ("lesson", "fast", "compiled")
    fast_variants = ("fast",)
    compiling_variants = ("fast", "compiled")  # mx.compile traces on a first call per shape
    fused_variant = "compiled"
    no_data_parallel = (
        "MLX's data parallelism (mx.distributed) needs processes started by mlx.launch over MPI or "
        "its ring backend; this backend has no such loop yet"
    )

    no_float64 = {
        "cpu": "MLX's float64 exp (in softmax, logsumexp, cross_entropy) is float32-accurate, a relative "
        "error of 1.9e-6 measured on mlx 0.32.4, so its float64 runs miss float64's tolerances by 7 digits"
    }

    def __init__(self, device="cpu", dtype="float32"):
        super().__init__(device, dtype)
        self.mx_dtype = getattr(mx, dtype)

    @classmethod
    def versions(cls):
        found = {"mlx": version("mlx")}
        with contextlib.suppress(PackageNotFoundError):
            found["mlx-cpu"] = version("mlx-cpu")  # Linux: the CPU build the extra installs
        return found

    def settings(self):
        return {**super().settings(), "mlx_default_device": str(mx.default_device()), "mlx_stream": "cpu"}

    def synchronize(self, value):
        mx.eval(value)

    def to_native(self, array):
        array = np.asarray(array)
        if array.dtype.kind == "f":  # mx.array makes a float64 NumPy array float32 unless told
            return mx.array(array, dtype=self.mx_dtype)
        return mx.array(array)

    def to_numpy(self, value):
        with on_cpu():
            return np.array(value)  # reading it evaluates it

    _functions = _Functional()

    @property
    def functional(self):
        return self._functions

    def train_native(self, x, y, weight, bias, *, lr, epochs, variant="lesson", log_every=0, log=None, **options):
        loop = {"lesson": train, "fast": train_fast, "compiled": train_compiled}[variant]
        with on_cpu():
            return loop(x, y, weight, bias, lr, epochs, log_every, log, **options)

    def traced_steps(self, weight, bias, *, lr, **options):
        with on_cpu():
            model = init_model(weight, bias)
            optimizer = make_optimizer(model, lr, **options)

        def step(x, y):
            with on_cpu():
                return trace_step(model, optimizer, x, y)

        return step

    def predict_native(self, weight, bias, x):
        with on_cpu():
            model = init_model(weight, bias)
            out = functional.softmax(model(x), axis=1)
            mx.eval(out)
            return out
