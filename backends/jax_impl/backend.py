"""Adapter: the JAX lesson behind ``common.get_backend("jax")``."""

import os
from importlib.metadata import version

import jax
import numpy as np

from common.backend import Backend, host_settings

from . import functional
from .fast import train_fast
from .model import PRECISION
from .train import train, train_fused


class JaxBackend(Backend):
    name = "jax"
    framework = "jax"
    variants = ("lesson", "fused")
    # fast.py's variants train full-batch plain SGD only (the benchmark's workloads), so they are
    # not among the class's variants, the ones ``compare`` runs on every spec; an instance
    # accepts them too: be.train(spec, variant="fast"), softmax-rosetta train --variant fast.
    fast_variants = ("fast",)

    def __init__(self, device="cpu", dtype="float32"):
        super().__init__(device, dtype)
        self.variants = (*type(self).variants, *self.fast_variants)
        self.jax_device = jax.devices("gpu" if device == "cuda" else "cpu")[0]

    @classmethod
    def known_devices(cls):
        return ("cpu", "cuda")

    @classmethod
    def available_devices(cls):
        try:
            jax.devices("gpu")
        except RuntimeError:
            return ("cpu",)
        return ("cpu", "cuda")

    @classmethod
    def versions(cls):
        return {name: version(name) for name in ("jax", "jaxlib", "flax", "optax")}

    def settings(self):
        info = {**host_settings(), **self.versions(),
                "jax_device": str(self.jax_device),
                "model_matmul_precision": str(PRECISION),
                "jax_default_matmul_precision": str(jax.config.jax_default_matmul_precision),
                "jax_enable_x64": bool(jax.config.jax_enable_x64),
                "xla_flags": os.environ.get("XLA_FLAGS", "")}
        return info

    def _to_native(self, array):
        return jax.device_put(np.asarray(array), self.jax_device)

    def _to_numpy(self, value):
        return np.asarray(value)

    @property
    def _functional(self):
        return functional

    def _train(self, x, y, weight, bias, lr, epochs, variant, log_every, log, **options):
        loop = {"fused": train_fused, "fast": train_fast}.get(variant, train)
        with jax.default_device(self.jax_device):
            return loop(x, y, weight, bias, lr, epochs, log_every, log, **options)

