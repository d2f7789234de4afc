"""The lesson in plain NumPy: every formula written out, the backward pass by hand.

This backend imports nothing but NumPy. It is the independent reference the other two are
checked against.
"""
