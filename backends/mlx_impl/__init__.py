"""The lesson in MLX, as MLX writes it: nn.Linear, nn.losses.cross_entropy, nn.value_and_grad,
mlx.optimizers.SGD, mx.compile. mlx is imported only when this package is, which
``softmax_rosetta.get_backend("mlx")`` does on demand.
"""
