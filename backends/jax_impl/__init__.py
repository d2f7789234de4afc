"""The lesson in JAX: jax.nn and optax for the losses, a Flax NNX model, optax.sgd through nnx.Optimizer.

jax, flax and optax are imported only when this package is, which
``softmax_rosetta.get_backend("jax")`` does on demand. Importing it turns on ``jax_enable_x64`` so
float64 runs are possible; float32 runs stay float32 because every array is created with
an explicit dtype.
"""

import jax

jax.config.update("jax_enable_x64", True)
