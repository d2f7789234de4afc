"""Adapter: the JAX lesson behind ``softmax_rosetta.get_backend("jax")``."""

import inspect
import os
from collections.abc import Callable
from functools import partial
from importlib.metadata import version

import jax
import numpy as np

from softmax_rosetta.backend import Backend, BackendError

from . import functional
from .distributed import train_data_parallel
from .fast import train_fast, train_fused
from .model import PRECISION, init_model
from .train import make_optimizer, trace_step, train

# From this many elements of input on, the adapter runs functional.py's functions under jax.jit.
JIT_MIN_ELEMENTS = 1 << 20


class _Functional:
    """functional.py as the adapter calls it: eagerly for small inputs, under jax.jit for large.

    Eager JAX materialises every intermediate (max, z - max, exp, ...): cross_entropy of a
    100,000 x 1,000 float32 input peaked at 5.1x the input's memory (measured); jitted, XLA fuses
    them and the peak is 2.0x (the input's device copy and the output). Small inputs stay eager:
    each op is compiled once and cached, where jit would compile a program for every new shape
    and option, which the tests' thousands of small cases would pay for.
    """

    STATIC = ("axis", "reduction", "label_smoothing", "ignore_index")

    def __getattr__(self, name):
        fn = getattr(functional, name)
        static = [p for p in self.STATIC if p in inspect.signature(fn).parameters]
        jitted = jax.jit(fn, static_argnames=static)

        def call(x, *args, **kwargs):
            return (jitted if x.size >= JIT_MIN_ELEMENTS else fn)(x, *args, **kwargs)

        setattr(self, name, call)  # found by normal lookup from now on
        return call


def _started_platforms():
    """Start jax's platforms; a JAX_PLATFORMS that names none this machine has is a BackendError.

    jax reads JAX_PLATFORMS when it starts its first platform and then fails on every call, with
    a RuntimeError or (a platform whose plugin is missing) an empty AssertionError.
    """
    try:
        jax.devices()
    except (RuntimeError, AssertionError) as exc:
        setting = os.environ.get("JAX_PLATFORMS")
        if not setting:
            raise
        why = (
            str(exc).split(" (set JAX_PLATFORMS=")[0].splitlines()[0]
            if str(exc)
            else "no platform it names could start"
        )
        raise BackendError(
            f"JAX_PLATFORMS={setting!r}: jax can't start it on this machine ({why}); "
            "unset it to let jax choose, or set it to cpu"
        ) from exc


class JaxBackend(Backend):
    name = "jax"
    framework = "jax"
    display_name = "JAX"
    title = "JAX / Flax NNX / Optax"
    packages = ("jax", "flax", "optax")
    extra = "jax"
    variants = ("lesson", "fast", "fused")
    fast_variants = ("fast",)
    compiling_variants = variants  # jax.jit / nnx.jit, each on its first call
    fused_variant = "fused"
    data_parallel = True  # workers > 1: distributed.py, over a Mesh of JAX devices

    def __init__(self, device="cpu", dtype="float32"):
        super().__init__(device, dtype)
        # this process's first device (in a multi-process run, jax.devices() lists every process's)
        self.jax_device = jax.local_devices(backend="gpu" if device == "cuda" else "cpu")[0]

    @classmethod
    def known_devices(cls):
        return ("cpu", "cuda")

    @classmethod
    def available_devices(cls):
        _started_platforms()
        found = []
        for device, platform in (("cpu", "cpu"), ("cuda", "gpu")):
            try:
                jax.devices(platform)
            except RuntimeError:
                continue
            found.append(device)
        return tuple(found)

    @classmethod
    def versions(cls):
        return {name: version(name) for name in ("jax", "jaxlib", "flax", "optax")}

    def settings(self):
        info = {
            **super().settings(),
            "jax_device": str(self.jax_device),
            "jax_devices": [str(d) for d in jax.devices()],
            "model_matmul_precision": str(PRECISION),
            "jax_default_matmul_precision": str(jax.config.jax_default_matmul_precision),  # type: ignore[attr-defined]
            "jax_enable_x64": bool(jax.config.jax_enable_x64),  # type: ignore[attr-defined]
            "xla_flags": os.environ.get("XLA_FLAGS", ""),
        }
        return info

    def set_threads(self, threads):
        # XLA's CPU thread pool is sized when jax starts, from XLA_FLAGS in the environment
        return {"xla_flags": os.environ.get("XLA_FLAGS", "")}

    def process_env(self, workers):
        # JAX fixes its CPU device count when it starts; a fresh process can have K of them
        have = len(jax.devices(self.jax_device.platform))
        if workers <= have or self.device != "cpu":
            return {}  # enough devices; or GPUs, which no setting adds (train_native says so)
        return {"JAX_NUM_CPU_DEVICES": str(workers)}

    def synchronize(self, value):
        jax.block_until_ready(value)

    def to_native(self, array):
        return jax.device_put(np.asarray(array), self.jax_device)

    def to_numpy(self, value):
        return np.asarray(value)

    _functions = _Functional()

    @property
    def functional(self):
        return self._functions

    def train_native(
        self, x, y, weight, bias, *, lr, epochs, variant="lesson", log_every=0, log=None, workers=1, **options
    ):
        loop: Callable[..., tuple]
        if workers > 1:
            loop = partial(train_data_parallel, workers=workers)
        else:
            loop = {"lesson": train, "fused": train_fused, "fast": train_fast}[variant]
        with jax.default_device(self.jax_device):
            return loop(x, y, weight, bias, lr, epochs, log_every, log, **options)

    def traced_steps(self, weight, bias, *, lr, **options):
        with jax.default_device(self.jax_device):
            model = init_model(weight, bias)
            optimizer = make_optimizer(model, lr, **options)

        def step(x, y):
            with jax.default_device(self.jax_device):
                return trace_step(model, optimizer, x, y)

        return step

    def predict_native(self, weight, bias, x):
        with jax.default_device(self.jax_device):
            model = init_model(weight, bias)
            return functional.softmax(model(x), axis=1)
