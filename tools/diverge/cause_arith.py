"""Exact rounding for the cause experiments: a fused multiply-add and sums written in NumPy, bit for bit.

NumPy has no fused multiply-add (one rounding of a * b + c), so ``fma`` builds one from
error-free transformations, exactly (every element, no overflow or subnormals assumed):

- float32: a * b of two float32 is exact in float64 (24 + 24 bits <= 53); the add is done in
  float64 rounded to odd (``_add_odd``), and a float64 rounded to odd, rounded once more to
  float32, is the correctly rounded float32 of the exact sum (53 >= 24 + 2: Boldo and
  Melquiond, "Emulation of FMA and correctly rounded sums: proved algorithms using rounding to
  odd", IEEE Trans. Computers 57(4), 2008). Plain float64 product-and-add rounded to float32
  would round twice, and on rare inputs give the wrong last bit; this doesn't.
- float64: the same paper's algorithm: a * b = uh + ul exactly (Dekker's product, Veltkamp's
  split), c + uh = th + tl exactly (Knuth's two-sum), v = (tl + ul) rounded to odd, and the
  result is th + v rounded to nearest.

tests/test_causes.py checks both against exact rational arithmetic (``fractions.Fraction``).
"""

from __future__ import annotations

import numpy as np


def two_sum(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """s = a + b rounded, and e with s + e = a + b exactly (Knuth)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _split(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """a = hi + lo, each with at most 26 significant bits (Veltkamp, float64)."""
    c = np.float64(134217729.0) * a  # 2**27 + 1
    hi = c - (c - a)
    return hi, a - hi


def two_product(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """p = a * b rounded, and e with p + e = a * b exactly (Dekker; float64)."""
    p = a * b
    ah, al = _split(a)
    bh, bl = _split(b)
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def _add_odd(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a + b rounded to odd: the exact sum when it is representable, else whichever of its two
    neighbours has an odd last bit."""
    s, e = two_sum(a, b)
    ints = np.int64 if s.dtype == np.float64 else np.int32
    even = np.bitwise_and(s.view(ints), 1) == 0
    return np.where((e != 0) & even, np.nextafter(s, np.where(e > 0, np.inf, -np.inf).astype(s.dtype)), s)


def fma(a: np.ndarray | float, b: np.ndarray | float, c: np.ndarray | float, dtype: np.dtype | str) -> np.ndarray:
    """a * b + c with one rounding, in dtype (float32 or float64), element by element (broadcast)."""
    dt = np.dtype(dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        if dt == np.float32:
            a64, b64, c64 = (np.asarray(v, np.float32).astype(np.float64) for v in (a, b, c))
            return np.asarray(_add_odd(a64 * b64, c64)).astype(np.float32)
        if dt == np.float64:
            a64, b64, c64 = (np.asarray(v, np.float64) for v in (a, b, c))
            uh, ul = two_product(a64, b64)
            th, tl = two_sum(c64, uh)
            return np.asarray(th + _add_odd(tl, ul))
    raise ValueError(f"fma: float32 or float64, got {dt}")


def rounded(x: np.ndarray, dtype: np.dtype | str) -> np.ndarray:
    """x in dtype (one rounding)."""
    return np.asarray(x).astype(dtype)


def sum_terms(terms: list[np.ndarray], order: str, dtype: np.dtype | str) -> np.ndarray:
    """The terms' sum, each addition rounded to dtype, in one of these orders:

    "left to right"   ((t0 + t1) + t2) + ...
    "right to left"   t0 + (t1 + (... + tn))
    "pairwise"        (t0 + t1) + (t2 + t3), then the pairs' sums the same way
    "halves"          (t0 + t_h) + ..., halving: a SIMD register's horizontal sum, h = n / 2
    """
    dt = np.dtype(dtype)
    if order == "left to right":
        acc = terms[0]
        for t in terms[1:]:
            acc = rounded(acc + t, dt)
        return acc
    if order == "right to left":
        acc = terms[-1]
        for t in reversed(terms[:-1]):
            acc = rounded(t + acc, dt)
        return acc
    vs = list(terms)
    while len(vs) > 1:
        if order == "pairwise":
            vs = [rounded(vs[i] + vs[i + 1], dt) if i + 1 < len(vs) else vs[i] for i in range(0, len(vs), 2)]
        elif order == "halves":
            h = (len(vs) + 1) // 2
            vs = [rounded(vs[i] + vs[i + h], dt) if i + h < len(vs) else vs[i] for i in range(h)]
        else:
            raise ValueError(f"sum_terms: unknown order {order!r}")
    return vs[0]


def numpy_sum(a: np.ndarray, axis: int) -> np.ndarray:
    """np.sum's own order along ``axis`` (pairwise, eight partial sums per block): the reference."""
    return np.sum(a, axis=axis)
