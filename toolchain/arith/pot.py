"""Bit-exact model of power-of-two (PoT) weights and bitshift-accumulate (BAC).

A PoT weight is ``w = (-1)**sign * 2**exponent`` or exactly ``0``.  Codes
are held as three arrays of the weight's shape (:class:`PotCodes`); a zero
weight is stored canonically as ``sign=0, exponent=0, zero=True``.

Exponent range (ours vs QKeras)
-------------------------------
``quantize(w, n_bits, max_exp)``: ``n_bits`` counts the weight's sign bit;
the other ``n_bits - 1`` bits give ``2**(n_bits-1)`` codes, one of which is
freed for zero, leaving ``L = 2**(n_bits-1) - 1`` exponent levels
``[e_min, e_max] = [max_exp - L + 1, max_exp]`` (see :func:`exponent_range`).

QKeras ``quantized_po2(bits, max_value)`` (qkeras 0.9.0, quantizers.py) has
no zero level.  With ``s = 1`` if ``max_value is None or max_value > 1``
else ``0`` (an exponent sign bit), it allows exponents
``[-2**(bits-1-s), 2**(bits-1-s) - 1]``, and ``max_value`` further clips
``|x|`` so the top exponent is ``min(that, round(log2(max_value)))``
(see :func:`qkeras_exponent_range`).  Mapping:

* ``quantized_po2(b)`` (``max_value=None``): ``[-2**(b-2), 2**(b-2)-1]``,
  ``2**(b-1)`` levels.  Ours with ``n_bits=b, max_exp=2**(b-2)-1`` has the
  same levels except the lowest one, ``2**-2**(b-2)``, whose code is our zero.
* ``quantized_po2(b, max_value=1)``: ``[-2**(b-1), 0]``, ``2**(b-1)+1``
  levels (more than ``b`` bits can code).  Ours with ``n_bits=b,
  max_exp=0`` keeps the top ``2**(b-1)-1`` of them: ``[-(2**(b-1)-2), 0]``.

QKeras also maps ``|x| < 1e-7`` (including exact 0) to ``+2**min_exp``, never
to 0; :func:`decompose` of a trained QKeras layer therefore sees only
non-zero powers of two unless our PoT pruning has zeroed some.

Rounding: :func:`quantize` picks the exponent nearest to ``log2|w|`` (as
QKeras ``log2_rounding="rnd"``), decided exactly: ``|w| = f * 2**k`` with
``f`` in ``[0.5, 1)`` rounds to ``k`` iff ``f > 2**-0.5``.  QKeras computes
``round(log(x)/log(2))`` in float32 and may differ for ``|w|`` within a few
ulp of a geometric midpoint ``2**(e+0.5)``.

Bitshift-accumulate: :func:`bac_dot` computes ``acc = sum ±(x << (e - e_min))``
over the non-zero weights with shifts, negation and adds only; the real
result is ``acc * 2**e_min`` times the scale of ``x``.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from toolchain.arith.checks import first_index, require_finite
from toolchain.errors import ArithValueError

EXP_MIN, EXP_MAX = -128, 127  # exponents are stored as int8
MAX_BITS = 8  # 2**7 - 1 = 127 levels still fit an int8 exponent range
DEFAULT_ZERO_MARGIN = 0.5
# Smallest float64 mantissa f in [0.5, 1) with f > 2**-0.5, i.e. log2(f) rounds to 0 (not -1):
# f = k * 2**-53 and f**2 > 1/2  <=>  k**2 > 2**105.
_SQRT_HALF_UP = (math.isqrt(2**105) + 1) / 2.0**53
_INT64_MAX = 2**63 - 1


class PotCodes(NamedTuple):
    """PoT weight codes, three arrays of the weight shape.

    ``sign``: int8, 1 = negative; ``exponent``: int8; ``zero``: bool, True
    where the weight is exactly 0 (then ``sign`` and ``exponent`` are 0).
    """

    sign: np.ndarray
    exponent: np.ndarray
    zero: np.ndarray


def exponent_range(n_bits: int, max_exp: int = 0) -> tuple[int, int]:
    """``(e_min, e_max)`` of our PoT code: ``2**(n_bits-1) - 1`` levels ending at ``max_exp``.

    ``n_bits`` in 2..8 counts the sign bit; one code is the zero.
    """
    if isinstance(n_bits, (bool, np.bool_)) or not isinstance(n_bits, (int, np.integer)) \
            or not 2 <= n_bits <= MAX_BITS:
        raise ArithValueError(f"PoT n_bits={n_bits!r} must be an integer in 2..{MAX_BITS} (sign bit included)")
    if isinstance(max_exp, (bool, np.bool_)) or not isinstance(max_exp, (int, np.integer)):
        raise ArithValueError(f"PoT max_exp={max_exp!r} must be an integer")
    e_max = int(max_exp)
    e_min = e_max - (2 ** (int(n_bits) - 1) - 2)
    if e_min < EXP_MIN or e_max > EXP_MAX:
        raise ArithValueError(
            f"PoT exponent range [{e_min}, {e_max}] (n_bits={n_bits}, max_exp={max_exp}) does not fit int8 "
            f"[{EXP_MIN}, {EXP_MAX}]")
    return e_min, e_max


def qkeras_exponent_range(bits: int, max_value: float | None = None) -> tuple[int, int]:
    """Exponent range ``(min_exp, max_exp)`` that QKeras ``quantized_po2(bits, max_value)`` can output.

    Mirrors qkeras 0.9.0 ``_get_min_max_exponents`` plus the ``max_value``
    clip (without ``quadratic_approximation``).  QKeras has no zero level.
    """
    if isinstance(bits, (bool, np.bool_)) or not isinstance(bits, (int, np.integer)) or bits < 2:
        raise ArithValueError(f"quantized_po2 bits={bits!r} must be an integer >= 2")
    if max_value is not None and not (np.isfinite(max_value) and max_value > 0):
        raise ArithValueError(f"quantized_po2 max_value={max_value!r} must be a positive finite number or None")
    s = 1 if (max_value is None or max_value > 1) else 0
    eff = int(bits) - 1 - s
    lo, hi = -(2**eff), 2**eff - 1
    if max_value is not None:
        hi = min(hi, int(np.round(np.log2(np.float32(max_value)))))  # tf.round: half to even, like np.round
    return lo, hi


def _float_array(w, what: str) -> np.ndarray:
    a = np.asarray(w)
    if a.dtype.kind not in "fiub":
        raise ArithValueError(f"{what} must be numeric, got dtype {a.dtype}")
    a = a.astype(np.float64)  # exact for float16/32 and for integers below 2**53
    require_finite(a, what, "only finite values can be quantized")
    return a


def decompose(w) -> PotCodes:
    """Exact codes of weights that already are ``±2**e`` (``e`` in int8 range) or 0.

    Raises naming the first value that is not such a power of two.
    """
    a = _float_array(w, "PoT weights")
    zero = a == 0
    mant, ex = np.frexp(np.abs(a))  # |a| = mant * 2**ex, mant in [0.5, 1)
    e = ex.astype(np.int64) - 1
    bad = ~zero & ((mant != 0.5) | (e < EXP_MIN) | (e > EXP_MAX))
    idx = first_index(bad)
    if idx is not None:
        v = a[idx]
        why = "is not a power of two" if mant[idx] != 0.5 else f"has exponent {int(e[idx])} outside int8"
        raise ArithValueError(f"weight {v!r} at index {idx} {why}; expected ±2**e or 0")
    return PotCodes(
        sign=np.where(zero, 0, a < 0).astype(np.int8),
        exponent=np.where(zero, 0, e).astype(np.int8),
        zero=zero,
    )


def quantize(w, n_bits: int, max_exp: int = 0, zero_margin: float | None = None) -> PotCodes:
    """Quantize real weights to PoT codes with a zero level.

    Exponents lie in :func:`exponent_range` ``(n_bits, max_exp)``; each
    non-zero weight gets the exponent nearest to ``log2|w|`` (decided
    exactly, see the module doc), clipped to ``[e_min, e_max]``.  A weight
    with ``|w| < zero_margin * 2**e_min`` becomes exactly 0.  The default
    margin is 0.5: a weight becomes 0 when it lies closer (linearly) to 0 than
    to the smallest level, i.e. below ``2**(e_min-1)``; ties go to the level.
    Larger margins prune more (margin > 1 also prunes weights that would take
    level ``e_min``), margin 0 prunes only exact zeros.  NaN/inf raise.
    """
    e_min, e_max = exponent_range(n_bits, max_exp)
    margin = DEFAULT_ZERO_MARGIN if zero_margin is None else zero_margin
    if isinstance(margin, (bool, np.bool_)) or not isinstance(margin, (int, float, np.integer, np.floating)) \
            or not np.isfinite(margin) or margin < 0:
        raise ArithValueError(f"zero_margin={zero_margin!r} must be a finite number >= 0")
    a = _float_array(w, "weights")
    mag = np.abs(a)
    zero = (mag == 0) | (mag < np.ldexp(float(margin), e_min))
    mant, ex = np.frexp(mag)
    e = ex.astype(np.int64) - np.where(mant >= _SQRT_HALF_UP, 0, 1)
    e = np.clip(e, e_min, e_max)
    return PotCodes(
        sign=np.where(zero, 0, a < 0).astype(np.int8),
        exponent=np.where(zero, 0, e).astype(np.int8),
        zero=zero,
    )


def _check_codes(codes: PotCodes, what: str = "PoT codes") -> PotCodes:
    if not isinstance(codes, tuple) or len(codes) != 3:
        raise ArithValueError(f"{what} must be a PotCodes(sign, exponent, zero), got {type(codes).__name__}")
    sign, exponent, zero = (np.asarray(c) for c in codes)
    if not (sign.shape == exponent.shape == zero.shape):
        raise ArithValueError(
            f"{what} arrays differ in shape: sign {sign.shape}, exponent {exponent.shape}, zero {zero.shape}")
    if exponent.dtype.kind not in "iu" or sign.dtype.kind not in "iub" or zero.dtype.kind != "b":
        raise ArithValueError(
            f"{what} dtypes sign {sign.dtype}, exponent {exponent.dtype}, zero {zero.dtype}: need ints and a bool mask")
    bad = ~np.isin(sign, (0, 1))
    idx = first_index(bad)
    if idx is not None:
        raise ArithValueError(f"{what} sign {int(sign[idx])} at index {idx} must be 0 or 1")
    return PotCodes(sign.astype(np.int8), exponent.astype(np.int64), zero)


def decode(codes: PotCodes) -> np.ndarray:
    """Real values (float64, exact) of PoT codes."""
    sign, exponent, zero = _check_codes(codes)
    mag = np.ldexp(1.0, exponent.astype(np.int32))
    return np.where(zero, 0.0, np.where(sign == 1, -mag, mag))


def terms(codes: PotCodes) -> int:
    """Number of non-zero weights: the shift-add terms hardware generates (zeros generate none)."""
    return int(np.count_nonzero(~_check_codes(codes).zero))


def bac_dot(x_codes, codes: PotCodes, e_min: int | None = None) -> tuple[np.ndarray, int]:
    """Bitshift-accumulate dot product ``x @ W`` with PoT weights ``W``.

    ``x_codes`` int (batch, n_in); ``codes`` for W (n_in, n_out).  Returns
    ``(acc, e_min)``: int64 ``acc`` (batch, n_out) ``= sum_i ±(x[b,i] << (e[i,o] - e_min))``
    over non-zero weights, real value ``acc * 2**e_min`` times x's scale.
    ``e_min`` defaults to the smallest non-zero exponent (0 if all are zero)
    and must not exceed it.  Shifts, negation and adds only: no data-weight
    multiplication.  Raises if ``acc`` could overflow int64.
    """
    sign, exponent, zero = _check_codes(codes)
    x = np.asanyarray(x_codes)
    if x.dtype.kind not in "iu":
        raise ArithValueError(f"bac_dot x_codes must be integer codes, got dtype {x.dtype}")
    if x.dtype != np.int64:
        x = x.astype(np.int64)
    if x.ndim != 2 or exponent.ndim != 2 or x.shape[1] != exponent.shape[0]:
        raise ArithValueError(
            f"bac_dot shapes x {x.shape} and W {exponent.shape} do not fit (batch, n_in) @ (n_in, n_out)")
    nz = ~zero
    lowest = int(exponent[nz].min()) if np.any(nz) else 0
    highest = int(exponent[nz].max()) if np.any(nz) else 0
    if e_min is None:
        e_min = lowest
    elif isinstance(e_min, (bool, np.bool_)) or not isinstance(e_min, (int, np.integer)) or e_min > lowest:
        raise ArithValueError(f"bac_dot e_min={e_min!r} must be an integer <= the smallest weight exponent {lowest}")
    e_min = int(e_min)
    shift = np.where(nz, exponent - e_min, 0)  # >= 0
    # overflow guard (Python ints): |acc| <= (terms per column) * max|x| * 2**max_shift
    max_x = max(abs(int(x.min())), abs(int(x.max()))) if x.size else 0
    per_col = int(nz.sum(axis=0).max()) if nz.size else 0
    bound = (max_x << (highest - e_min)) * per_col  # Python int, exact
    if bound > _INT64_MAX:
        raise ArithValueError(
            f"bac_dot accumulator bound {bound} (max|x|={max_x}, shift up to {highest - e_min}, {per_col} terms) "
            f"overflows int64")
    batch, n_in = x.shape
    n_out = exponent.shape[1]
    neg = nz & (sign == 1)
    acc = np.zeros((batch, n_out), dtype=np.int64)
    chunk = max(1, (1 << 22) // max(1, n_in * n_out))  # bound the (chunk, n_in, n_out) temporary
    for lo in range(0, batch, chunk):
        t = x[lo:lo + chunk, :, None] << shift[None, :, :]  # shifted inputs, (b, n_in, n_out)
        t = np.where(neg[None], -t, t)
        t = np.where(nz[None], t, np.int64(0))  # pruned weights generate no term
        acc[lo:lo + chunk] = np.asarray(t.sum(axis=1, dtype=np.int64))
    return acc, e_min
