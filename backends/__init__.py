"""The lesson written three times: ``numpy_impl``, ``torch_impl`` and ``jax_impl``.

Each folder has the same modules with the same function names:

- ``functional.py``: softmax, log_softmax, one_hot and the three levels of cross-entropy;
- ``model.py``: the linear classifier (logits = x W^T + b);
- ``train.py``: the lesson's training loop (and, in JAX, a fused one);
- ``backend.py``: the small adapter that lets ``softmax_rosetta.get_backend`` use it with NumPy arrays.

Open one module in all three folders side by side to compare the frameworks.
"""
