"""Fast exact fixed-point arithmetic on float64 codes, and exact integer matrix products.

The definitions are the int64 functions of ``fixed`` (quantize, requantize) and the per-term
accumulations of the kernels; this module computes the same integers faster, for the reference's
fast path (``toolchain.reference``).  It rests on three facts of IEEE float64:

* every integer of magnitude <= 2**53 (``EXACT``) is a float64, so codes of types up to 53 bits
  can be held as float64 without loss;
* an operation whose exact result is representable returns it exactly: scaling by ``2**k``
  (no overflow, no subnormals at our magnitudes), the sum of two such values when the exact sum
  is an integer (or dyadic) of <= 53 significant bits, floor/rint/trunc;
* a dot product of integer vectors whose partial sums, in any order, stay <= 2**53 in magnitude is
  exact whatever the order BLAS adds its terms in (each product and each partial sum is a
  representable integer).  The bound used is ``sum_i |w_i| * max|x|``, which holds every subset.

Every function equals its definition bit for bit where it applies (tests/test_reference_fast.py);
callers check the preconditions (magnitudes) from the static types and otherwise use int64.
No Keras, no hls4ml.
"""
from __future__ import annotations

import numpy as np

from toolchain.arith.fixed import FixedType

EXACT = 1 << 53  # float64 holds every integer of magnitude <= 2**53
EXACT32 = 1 << 24  # float32 holds every integer of magnitude <= 2**24
INT64_LIMIT = 1 << 63  # int64 holds every integer in [-2**63, 2**63)


def fits_float(lo: int, hi: int) -> bool:
    """True if every integer in ``[lo, hi]`` is exact in float64 (Python ints, any size)."""
    return max(-int(lo), int(hi)) <= EXACT


def type_fits_float(t: FixedType) -> bool:
    """True if every code of ``t`` is exact in float64 (widths up to 53 bits)."""
    return fits_float(t.min_code, t.max_code)


# ---- rounding and overflow, in place ---------------------------------------------------------------


def round_inplace(v: np.ndarray, rounding: str) -> np.ndarray:
    """Round float64 ``v`` to integers in place with an ap rounding mode; returns ``v``.

    Exact for every finite double (``v`` is the exact value in units of the target LSB):
    ``r = rint(v)`` is the nearest integer (ties to even) and ``v - r`` is exact, so the ties
    (``v - r = +-1/2``) are found exactly and moved the way the mode says.
    """
    if rounding == "AP_TRN":
        return np.floor(v, out=v)
    if rounding == "AP_TRN_ZERO":
        return np.trunc(v, out=v)
    if rounding == "AP_RND_CONV":
        return np.rint(v, out=v)
    r = np.rint(v)
    d = np.subtract(v, r, out=v)  # exact, in [-1/2, 1/2]
    up, down = d == 0.5, d == -0.5  # ties: v = r + 1/2 and v = r - 1/2
    if rounding == "AP_RND":  # ties towards +inf
        r += up
    elif rounding == "AP_RND_MIN_INF":  # ties towards -inf
        r -= down
    elif rounding == "AP_RND_ZERO":  # ties towards zero: up when v < 0 (r < 0), down when v > 0 (r > 0)
        r += up & (r < 0)
        r -= down & (r > 0)
    elif rounding == "AP_RND_INF":  # ties away from zero
        r += up & (r >= 0)
        r -= down & (r <= 0)
    else:
        raise ValueError(f"unknown rounding mode {rounding!r}")
    v[...] = r
    return v


def overflow_inplace(r: np.ndarray, t: FixedType) -> np.ndarray:
    """Apply ``t``'s overflow mode in place to integer-valued float64 ``r`` (any magnitude); returns ``r``.

    ``t`` must fit float64 (``type_fits_float``).  WRAP reduces with ``np.mod``, which is exact.
    """
    lo, hi = float(t.min_code), float(t.max_code)
    if t.overflow == "AP_SAT_SYM" and t.signed:
        lo = -hi  # the code -2**(width-1) never comes out
    if t.overflow in ("AP_SAT", "AP_SAT_SYM"):  # clipping costs what checking would
        np.minimum(r, hi, out=r)
        return np.maximum(r, lo, out=r)
    if r.size == 0 or (r.min() >= lo and r.max() <= hi):  # nothing to do: two reads instead of writes
        return r
    if t.overflow == "AP_WRAP":
        span = float(1 << t.width)
        np.mod(r, span, out=r)  # [0, span)
        if t.signed:
            r -= (r > hi) * span
        return r
    r[(r < lo) | (r > hi)] = 0.0  # AP_SAT_ZERO
    return r


def quantize(x: np.ndarray, t: FixedType) -> np.ndarray:
    """``fixed.quantize(x, t)`` as float64 codes, for finite float64 ``x`` and ``t`` fitting float64."""
    v = np.multiply(x, 2.0 ** t.frac)  # exact: a power-of-two scaling
    return overflow_inplace(round_inplace(v, t.rounding), t)


def requantize(codes: np.ndarray, frac_in: int, t: FixedType, inplace: bool = False) -> np.ndarray:
    """``fixed.requantize(codes, frac_in, t)`` on float64 codes (|codes| <= 2**53), as float64 codes of ``t``.

    ``inplace``: ``codes`` may be overwritten (a temporary of the caller).
    """
    v = np.multiply(codes, 2.0 ** (t.frac - frac_in), out=codes if inplace else None)  # exact value in t's LSBs
    if frac_in > t.frac:
        round_inplace(v, t.rounding)
    return overflow_inplace(v, t)


# ---- exact integer matrix products -----------------------------------------------------------------


def dot_bound(w: np.ndarray, x_lo: int, x_hi: int) -> tuple[int, int]:
    """Bounds of ``x @ w`` for int64 ``w`` and integer ``x`` in ``[x_lo, x_hi]``: (max over outputs of
    ``sum_i |w_io| * X``, max ``|w_io| * X``) with ``X = max |x|``, Python ints.  The first bounds every
    partial sum of every output, in any order; the second every single term."""
    big_x = max(-int(x_lo), int(x_hi), 0)
    if w.size == 0:
        return 0, 0
    absw = np.abs(w.astype(np.int64))  # codes below 2**62: no overflow
    wmax = int(absw.max())
    if wmax * w.shape[0] >= INT64_LIMIT:
        absw = absw.astype(object)  # column sums could overflow int64
    return int(absw.sum(axis=0).max()) * big_x, wmax * big_x


def exact_matmul(x: np.ndarray, w: np.ndarray, shift: int = 0, bounds: tuple[int, int] | None = None) -> np.ndarray:
    """The exact integer ``(x @ w) * 2**shift`` for integer codes ``x`` (int64 or float64) and int64 ``w``
    (shift >= 0); ``bounds`` is ``dot_bound(w, ...)`` for the range of ``x`` (default: the actual ``x``).

    float32 BLAS when ``x`` is float32 and every partial sum is <= 2**24 (half the memory traffic of
    float64; a float32 result); float64 BLAS when every partial sum is <= 2**53 (the result holds
    integers, exact, possibly above 2**53 when shifted); else, when the shifted bound fits int64,
    int64 results: float64 BLAS over blocks of inputs whose partial sums stay <= 2**53, added in
    int64, when every single term does, int64 products otherwise; Python ints (object) beyond int64.
    """
    if bounds is None:
        lo, hi = (int(x.min()), int(x.max())) if x.size else (0, 0)
        bounds = dot_bound(w, lo, hi)
    bound, term = bounds
    scale = 2.0 ** shift
    if bound <= EXACT32 and x.dtype == np.float32:
        return x @ (w.astype(np.float32) * np.float32(scale))
    if bound <= EXACT:  # scaling the weights by 2**shift is exact and keeps every partial sum exact
        return np.asarray(x, dtype=np.float64) @ (w.astype(np.float64) * scale)
    xi = np.asarray(x, dtype=np.int64)  # float64 codes are integers: exact
    if bound << shift >= INT64_LIMIT:
        return (xi.astype(object) @ w.astype(object)) * (1 << shift)
    if term > EXACT:
        return np.matmul(xi, w.astype(np.int64)) << np.int64(shift)
    step = max(1, EXACT // max(term, 1))  # inputs per block: partial sums <= step * term <= 2**53
    xf, wf = np.asarray(x, dtype=np.float64), w.astype(np.float64)
    out = np.zeros((x.shape[0], w.shape[1]), dtype=np.int64)
    for k in range(0, w.shape[0], step):
        out += (xf[:, k:k + step] @ wf[k:k + step]).astype(np.int64)
    return out << np.int64(shift)
