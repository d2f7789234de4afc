"""The lesson in PyTorch, as the lesson writes it: F.softmax, F.cross_entropy, nn.Linear, optim.SGD.

torch is imported only when this package is, which ``softmax_rosetta.get_backend("torch")`` does
on demand.
"""
