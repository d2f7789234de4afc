"""The tiny backend: softmax-rosetta's NumPy lesson under another name, with one known gap.

Its "fused" cross-entropy is the lesson's one-hot formula, sum(q * -log(softmax(z))), not a fused
log-sum-exp: where a probability underflows to 0 (logits like +-1e4) it gives inf or nan. The
deviations file beside this module declares that, so ``softmax-rosetta conform tiny`` shows it as
declared and exits 0.
"""

from softmax_rosetta.backends.numpy_impl import functional as numpy_functional
from softmax_rosetta.backends.numpy_impl.backend import NumpyBackend


class _Functional:
    """NumPy's functions, the fused loss replaced by the one-hot formula."""

    def __getattr__(self, name):
        return getattr(numpy_functional, name)

    cross_entropy = staticmethod(numpy_functional.cross_entropy_onehot)


class TinyBackend(NumpyBackend):
    name = "tiny"
    display_name = "Tiny"
    title = "Tiny (NumPy inside)"
    # literals: the registry reads them from this class body without importing anything
    packages = ("numpy",)
    extra = ""
    deviations = "deviations.toml"

    @property
    def functional(self):
        return _Functional()
