"""Adapter: the PyTorch lesson behind ``softmax_rosetta.get_backend("torch")``."""

import contextlib
import functools
from typing import Any

import numpy as np
import torch

from softmax_rosetta.backend import Backend

from . import functional
from .distributed import train_data_parallel
from .fast import train_compiled, train_fast
from .model import init_model
from .train import make_optimizer, trace_step, train


@contextlib.contextmanager
def full_float32_precision():
    """Inside: no TF32 (nor oneDNN's bf16): float32 matmuls, convolutions and RNNs in full float32,
    for honest agreement. Outside: the user's settings, as they were.

    torch's precision is a tree: a root (``torch.backends.fp32_precision``), then per backend and
    op, an op's own setting winning over its parents'. ``torch.backends.flags`` sets the root for
    the block (it works where torch.testing has frozen the flags against plain assignment); the
    ops are set, and put back, one by one.
    """
    # the per-op settings are attributes torch adds at run time (2.9+), unknown to its type hints
    ops: tuple[Any, ...] = (
        torch.backends.cuda.matmul,
        torch.backends.cudnn.conv,  # type: ignore[attr-defined]
        torch.backends.cudnn.rnn,
        torch.backends.mkldnn.matmul,  # type: ignore[attr-defined]
    )
    saved = [op.fp32_precision for op in ops]
    with torch.backends.flags(fp32_precision="ieee"):
        try:
            for op in ops:
                op.fp32_precision = "ieee"
            yield
        finally:
            for op, value in zip(ops, saved, strict=True):
                op.fp32_precision = value


class _Functional:
    """functional.py as the adapter calls it: each function inside ``full_float32_precision()``."""

    def __getattr__(self, name):
        fn = getattr(functional, name)

        @functools.wraps(fn)
        def call(*args, **kwargs):
            with full_float32_precision():
                return fn(*args, **kwargs)

        setattr(self, name, call)  # found by normal lookup from now on
        return call


class TorchBackend(Backend):
    name = "torch"
    framework = "torch"
    display_name = "PyTorch"
    title = "PyTorch"
    packages = ("torch",)
    extra = "torch"
    variants = ("lesson", "fast", "compiled")
    fast_variants = ("fast", "compiled")
    compiling_variants = ("compiled",)
    fused_variant = "compiled"
    data_parallel = True  # workers > 1: distributed.py, DistributedDataParallel over torch's launcher

    def __init__(self, device="cpu", dtype="float32"):
        super().__init__(device, dtype)
        self.torch_dtype = getattr(torch, dtype)

    @classmethod
    def known_devices(cls):
        return ("cpu", "cuda")

    @classmethod
    def available_devices(cls):
        return ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",)

    @classmethod
    def versions(cls):
        return {"torch": torch.__version__}

    def settings(self):
        with full_float32_precision():  # the precision in force during the backend's runs
            info = {
                **super().settings(),
                **self._threads(),
                "cuda_matmul_fp32_precision": torch.backends.cuda.matmul.fp32_precision,
                "cudnn_fp32_precision": torch.backends.cudnn.fp32_precision,
                "mkldnn_matmul_fp32_precision": torch.backends.mkldnn.matmul.fp32_precision,  # type: ignore[attr-defined]
                "float32_matmul_precision": _legacy_matmul_precision(),
            }
        if self.device == "cuda":
            info["gpu"] = torch.cuda.get_device_name()
        return info

    def set_threads(self, threads):
        torch.set_num_threads(threads)
        return self._threads()

    def _threads(self):
        return {"torch_threads": torch.get_num_threads(), "torch_interop_threads": torch.get_num_interop_threads()}

    def synchronize(self, value):
        if self.device == "cuda":
            torch.cuda.synchronize()

    def to_native(self, array):
        tensor = torch.tensor(np.asarray(array))  # a copy: spec arrays are read-only
        if tensor.is_floating_point():
            tensor = tensor.to(self.torch_dtype)
        return tensor.to(self.device)

    def to_numpy(self, value):
        return value.detach().cpu().numpy()

    _functions = _Functional()

    @property
    def functional(self):
        return self._functions

    def train_native(
        self, x, y, weight, bias, *, lr, epochs, variant="lesson", log_every=0, log=None, workers=1, **options
    ):
        if workers > 1:  # each process sets its own precision
            return train_data_parallel(x, y, weight, bias, lr, epochs, log_every, log, workers=workers, **options)
        loop = {"lesson": train, "fast": train_fast, "compiled": train_compiled}[variant]
        with full_float32_precision():
            return loop(x, y, weight, bias, lr, epochs, log_every, log, **options)

    def traced_steps(self, weight, bias, *, lr, **options):
        model = init_model(weight, bias)
        optimizer = make_optimizer(model, lr, **options)

        def step(x, y):
            with full_float32_precision():
                return trace_step(model, optimizer, x, y)

        return step

    def predict_native(self, weight, bias, x):
        model = init_model(weight, bias).eval()
        with torch.no_grad(), full_float32_precision():
            return functional.softmax(model(x), axis=1)


def _legacy_matmul_precision():
    """torch.get_float32_matmul_precision(), which refuses to answer where a user has mixed its
    legacy setter with the fp32_precision attributes: then that is what is recorded."""
    try:
        return torch.get_float32_matmul_precision()
    except RuntimeError:
        return "unreadable: legacy and fp32_precision settings mixed"
