"""``softmax-rosetta diverge``: where two runs of the lesson first part, and why.

first.py finds the first step and quantity where two traces (``softmax_rosetta.trace``) are not
bit-identical; causes.py tries to reproduce the other run's bits by changing one choice in a
NumPy reference of the step, and names a cause only where that works.
"""
