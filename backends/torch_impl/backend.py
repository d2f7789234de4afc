"""Adapter: the PyTorch lesson behind ``softmax_rosetta.get_backend("torch")``."""

import numpy as np
import torch

from softmax_rosetta.backend import Backend

from . import functional as functional_module
from .fast import train_compiled, train_fast
from .train import train


def full_float32_precision():
    """No TF32: float32 matmuls and convolutions on a GPU in full float32, for honest agreement."""
    torch.backends.cuda.matmul.fp32_precision = "ieee"
    torch.backends.cudnn.fp32_precision = "ieee"


class TorchBackend(Backend):
    name = "torch"
    framework = "torch"
    variants = ("lesson", "fast", "compiled")
    fast_variants = ("fast", "compiled")

    def __init__(self, device="cpu", dtype="float32"):
        super().__init__(device, dtype)
        full_float32_precision()
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
        info = {
            **super().settings(),
            **self._threads(),
            "cuda_matmul_fp32_precision": torch.backends.cuda.matmul.fp32_precision,
            "cudnn_fp32_precision": torch.backends.cudnn.fp32_precision,
            "float32_matmul_precision": torch.get_float32_matmul_precision(),
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

    @property
    def functional(self):
        return functional_module

    def train_native(self, x, y, weight, bias, *, lr, epochs, variant="lesson", log_every=0, log=None, **options):
        loop = {"lesson": train, "fast": train_fast, "compiled": train_compiled}[variant]
        return loop(x, y, weight, bias, lr, epochs, log_every, log, **options)
