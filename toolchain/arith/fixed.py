"""Bit-exact model of Xilinx ``ap_fixed`` / ``ap_ufixed`` / ``ap_int`` quantisation.

A fixed-point value is an integer *code* times ``2**-frac`` where
``frac = width - integer``.  Everything here works on int64 code arrays,
vectorised over any shape, so widths are limited to 62 bits.

Rounding modes (what happens to bits below the LSB):

===============  ==========================================================
``AP_TRN``       floor (towards -inf); the ap_fixed default
``AP_TRN_ZERO``  towards zero
``AP_RND``       round half towards +inf
``AP_RND_ZERO``  round half towards zero
``AP_RND_MIN_INF`` round half towards -inf
``AP_RND_INF``   round half away from zero
``AP_RND_CONV``  round half to even (convergent)
===============  ==========================================================

Overflow modes: ``AP_WRAP`` (two's complement wrap, the default),
``AP_SAT`` (clip), ``AP_SAT_ZERO`` (overflow gives 0), ``AP_SAT_SYM``
(clip to the symmetric range ``[-max, max]`` for signed types).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from toolchain.arith.checks import require_finite
from toolchain.errors import ArithValueError

ROUNDING_MODES = ("AP_TRN", "AP_TRN_ZERO", "AP_RND", "AP_RND_ZERO", "AP_RND_MIN_INF", "AP_RND_INF", "AP_RND_CONV")
OVERFLOW_MODES = ("AP_WRAP", "AP_SAT", "AP_SAT_ZERO", "AP_SAT_SYM")
MAX_WIDTH = 62  # int64 codes, with headroom for one carry bit


@dataclass(frozen=True)
class FixedType:
    """``ap_fixed<width, integer, rounding, overflow>`` (``signed=False`` for ap_ufixed).

    ``integer`` counts the sign bit for signed types, as in ap_fixed; it may be
    negative or larger than ``width``.
    """

    width: int
    integer: int
    signed: bool = True
    rounding: str = "AP_TRN"
    overflow: str = "AP_WRAP"

    def __post_init__(self) -> None:
        if not isinstance(self.width, (int, np.integer)) or not 1 <= self.width <= MAX_WIDTH:
            raise ArithValueError(f"fixed-point width {self.width!r} must be an integer in 1..{MAX_WIDTH}")
        if not isinstance(self.integer, (int, np.integer)):
            raise ArithValueError(f"fixed-point integer bits {self.integer!r} must be an integer")
        if self.rounding not in ROUNDING_MODES:
            raise ArithValueError(f"unknown rounding mode {self.rounding!r}; known: {', '.join(ROUNDING_MODES)}")
        if self.overflow not in OVERFLOW_MODES:
            raise ArithValueError(f"unknown overflow mode {self.overflow!r}; known: {', '.join(OVERFLOW_MODES)}")

    @property
    def frac(self) -> int:
        """Fractional bits: the code is ``value * 2**frac``."""
        return self.width - self.integer

    @property
    def min_code(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max_code(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    @property
    def lsb(self) -> float:
        return 2.0 ** -self.frac

    def cpp(self) -> str:
        """The C++ type name, e.g. ``ap_fixed<16,6,AP_RND,AP_SAT>``."""
        base = "ap_fixed" if self.signed else "ap_ufixed"
        if self.rounding == "AP_TRN" and self.overflow == "AP_WRAP":
            return f"{base}<{self.width},{self.integer}>"
        return f"{base}<{self.width},{self.integer},{self.rounding},{self.overflow}>"

    def __str__(self) -> str:
        return self.cpp()


_TYPE_RE = re.compile(
    r"^\s*(?P<base>ap_fixed|ap_ufixed|ap_int|ap_uint|fixed|ufixed|int|uint)\s*<(?P<args>[^>]*)>\s*$"
)
_SHORT_MODES = {"TRN": "AP_TRN", "TRN_ZERO": "AP_TRN_ZERO", "RND": "AP_RND", "RND_ZERO": "AP_RND_ZERO",
                "RND_MIN_INF": "AP_RND_MIN_INF", "RND_INF": "AP_RND_INF", "RND_CONV": "AP_RND_CONV",
                "WRAP": "AP_WRAP", "SAT": "AP_SAT", "SAT_ZERO": "AP_SAT_ZERO", "SAT_SYM": "AP_SAT_SYM"}


def parse_type(text: str) -> FixedType:
    """Parse ``ap_fixed<16,6,AP_RND,AP_SAT>``, ``ap_ufixed<8,0>``, ``ap_int<8>``, ``fixed<16,6,RND,SAT>``..."""
    m = _TYPE_RE.match(str(text))
    if not m:
        raise ArithValueError(f"cannot parse fixed-point type {text!r}; expected e.g. 'ap_fixed<16,6>'")
    base = m["base"]
    args = [a.strip() for a in m["args"].split(",") if a.strip()]
    signed = not base.startswith("u") and not base.startswith("ap_u")
    try:
        width = int(args[0])
        integer = width if base in ("ap_int", "ap_uint", "int", "uint") else int(args[1])
    except (IndexError, ValueError):
        raise ArithValueError(f"cannot parse fixed-point type {text!r}: width/integer bits missing") from None
    modes = args[1:] if base in ("ap_int", "ap_uint", "int", "uint") else args[2:]
    rounding = _SHORT_MODES.get(modes[0], modes[0]) if len(modes) > 0 else "AP_TRN"
    overflow = _SHORT_MODES.get(modes[1], modes[1]) if len(modes) > 1 else "AP_WRAP"
    return FixedType(width, integer, signed, rounding, overflow)


def _round_scaled(v: np.ndarray, rounding: str) -> np.ndarray:
    """Round float64 ``v`` (already scaled by ``2**frac``) to integers held in float64.

    The half-way tests compare ``v`` with ``floor(v) + 0.5``, exact below 2**52 (from there on every
    float64 is an integer and is returned as it is); ``v - floor(v)`` is not exact (for
    ``v = -0.5 + 2**-54`` it rounds to 0.5, a false tie).
    """
    fl = np.floor(v)
    if rounding == "AP_TRN":
        return fl
    if rounding == "AP_TRN_ZERO":
        return np.where((v < 0) & (v > fl), fl + 1, fl)
    mid = fl + 0.5
    rounded = fl + (v > mid) + (v == mid) * _half_step(fl, v, rounding)
    return np.where(np.abs(v) >= 2.0**52, v, rounded)


def _half_step(fl: np.ndarray, value_sign_ref: np.ndarray, rounding: str) -> np.ndarray:
    """For exact half-way cases: 1 if the result rounds up from ``fl``, else 0."""
    if rounding == "AP_RND":
        return np.ones_like(fl)
    if rounding == "AP_RND_MIN_INF":
        return np.zeros_like(fl)
    if rounding == "AP_RND_ZERO":  # up only for negative values
        return (value_sign_ref < 0).astype(fl.dtype)
    if rounding == "AP_RND_INF":  # away from zero: up for positive
        return (value_sign_ref > 0).astype(fl.dtype)
    if rounding == "AP_RND_CONV":  # to even: up when floor is odd
        return (np.mod(fl, 2) == 1).astype(fl.dtype)
    raise ArithValueError(f"unknown rounding mode {rounding!r}")


def _overflow_float(r: np.ndarray, t: FixedType) -> np.ndarray:
    """Apply the overflow mode to rounded integers held exactly in float64."""
    lo, hi = float(t.min_code), float(t.max_code)
    if t.overflow == "AP_WRAP":
        span = float(2 ** t.width)
        w = np.fmod(r, span)  # exact for floats
        w = np.where(w < 0, w + span, w)
        if t.signed:
            w = np.where(w > hi, w - span, w)
        return w
    out_of_range = (r < lo) | (r > hi)
    if t.overflow == "AP_SAT_ZERO":
        return np.where(out_of_range, 0.0, r)
    if t.overflow == "AP_SAT_SYM" and t.signed:
        lo = -hi
    return np.clip(r, lo, hi)


def quantize(x: np.ndarray | float, t: FixedType) -> np.ndarray:
    """Quantize real values to ``t``; returns int64 codes (value = code * 2**-t.frac).

    Matches ``t(x)`` in C++ for float32/float64 ``x``: the conversion is exact
    in double precision, then rounding, then overflow.  NaN or inf raise
    :class:`ArithValueError`.
    """
    x = np.asarray(x, dtype=np.float64)
    require_finite(x, "input to quantize()", "only finite values can be quantized")
    v = np.ldexp(x, t.frac)  # exact: scaling by a power of two
    return _overflow_float(_round_scaled(v, t.rounding), t).astype(np.int64)


def to_float(codes: np.ndarray, t: FixedType | int) -> np.ndarray:
    """Real value of integer codes; ``t`` is a FixedType or a number of fractional bits."""
    frac = t.frac if isinstance(t, FixedType) else int(t)
    return np.ldexp(np.asarray(codes, dtype=np.float64), -frac)


def shift_round(codes: np.ndarray, shift: int, rounding: str = "AP_TRN") -> np.ndarray:
    """Exact ``codes * 2**-shift`` rounded to an integer with an ap rounding mode.

    A left shift (``shift < 0``) that would pass 62 bits returns Python ints (object array), so that
    :func:`overflow` sees the exact value, as ap_fixed does, instead of an int64 that wrapped.
    """
    codes = np.asarray(codes, dtype=np.int64)
    if shift <= 0:
        if codes.size and max(-int(codes.min()), int(codes.max())) >= (1 << (62 + shift)):
            return codes.astype(object) << -shift
        return codes << np.int64(-shift)
    fl = codes >> np.int64(shift)  # arithmetic shift = floor
    rem = codes - (fl << np.int64(shift))  # in [0, 2**shift)
    if rounding == "AP_TRN":
        return fl
    if rounding == "AP_TRN_ZERO":
        return np.where((codes < 0) & (rem > 0), fl + 1, fl)
    half = np.int64(1) << np.int64(shift - 1)
    up = (rem > half).astype(np.int64)
    at_half = rem == half
    return fl + up + at_half * _half_step(fl, codes, rounding).astype(np.int64)


def overflow(codes: np.ndarray, t: FixedType) -> np.ndarray:
    """Apply ``t``'s overflow mode to integer codes already on ``t``'s grid (int64, or Python ints of any size);
    returns int64 codes of ``t``."""
    codes = np.asarray(codes)
    if codes.dtype != object:
        codes = codes.astype(np.int64)
    if t.overflow == "AP_WRAP":
        w = codes & ((1 << t.width) - 1)
        if t.signed:
            w = np.where(w > t.max_code, w - (1 << t.width), w)
        return np.asarray(w).astype(np.int64)
    lo, hi = t.min_code, t.max_code
    out_of_range = (codes < lo) | (codes > hi)
    if t.overflow == "AP_SAT_ZERO":
        return np.where(out_of_range, 0, codes).astype(np.int64)
    if t.overflow == "AP_SAT_SYM" and t.signed:
        lo = -hi
    return np.clip(codes, lo, hi).astype(np.int64)


def requantize(codes: np.ndarray, frac_in: int, t: FixedType) -> np.ndarray:
    """Assign exact fixed-point values (``codes * 2**-frac_in``) to type ``t``, as C++ ``t(y)`` does."""
    return overflow(shift_round(codes, frac_in - t.frac, t.rounding), t)


def bits_for_range(lo: int, hi: int, signed: bool | None = None) -> int:
    """Fewest bits of a two's complement (or unsigned) integer holding every value in ``[lo, hi]``."""
    lo, hi = int(lo), int(hi)
    if lo > hi:
        raise ArithValueError(f"empty range [{lo}, {hi}]")
    if signed is None:
        signed = lo < 0
    if not signed:
        if lo < 0:
            raise ArithValueError(f"range [{lo}, {hi}] needs a signed type")
        return max(1, hi.bit_length())
    # signed: need -(2**(b-1)) <= lo and hi <= 2**(b-1) - 1
    return max(1, (hi.bit_length() + 1) if hi > 0 else 1, ((-lo - 1).bit_length() + 1) if lo < 0 else 1)


def type_for_range(lo: int, hi: int, frac: int, signed: bool | None = None,
                   rounding: str = "AP_TRN", overflow_mode: str = "AP_WRAP") -> FixedType:
    """Smallest FixedType with ``frac`` fractional bits holding integer codes in ``[lo, hi]`` exactly."""
    if signed is None:
        signed = lo < 0
    width = bits_for_range(lo, hi, signed)
    if width > MAX_WIDTH:
        raise ArithValueError(f"range [{lo}, {hi}] needs {width} bits, more than the {MAX_WIDTH} supported")
    return FixedType(width, width - frac, signed, rounding, overflow_mode)
