"""The lesson written three times: ``numpy_impl``, ``torch_impl`` and ``jax_impl``.

Each folder has the same modules with the same function names:

- ``functional.py``: softmax, log_softmax, one_hot and the three levels of cross-entropy;
- ``model.py``: the linear classifier (logits = x W^T + b): ``SoftmaxClassifier``,
  ``init_model(weight, bias)`` and ``weight_and_bias(model)``, weight (C, D) as torch stores it,
  and ``stored_weight(model)``, the weight as the model itself stores it;
- ``train.py``: the lesson's training loop, ``train``, and its pieces: ``make_optimizer`` (SGD),
  ``loss_fn`` (the cost) and ``train_step`` (one step); ``sgd_steps``, the optimizer alone;
- ``fast.py``: the same run made fast (``train_fast``, full-batch plain SGD), and each
  framework's compiled loop (torch's ``train_compiled``, JAX's ``train_fused``);
- ``backend.py``: the small adapter that lets ``softmax_rosetta.get_backend`` use it with NumPy arrays.

Open one module in all three folders side by side to compare the frameworks
(tests/test_backend_parity.py keeps their public names in line). Each ``Backend`` class is declared
in the entry-point group ``softmax_rosetta.backends`` (pyproject.toml), as a plugin's would be.
"""
