"""The tools built on the library: the ``softmax-rosetta`` command, the agreement report, the
benchmark and the docs generator.

They import the library (``softmax_rosetta``: spec, data, init, the backend API); the library
never imports them.
"""
