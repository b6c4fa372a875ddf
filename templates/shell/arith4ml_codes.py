"""Fixed-point codes for the board drivers (copied beside each driver as ``arith4ml_codes.py``).

The drivers run where arith4ml is not installed (a PYNQ board, a host with only NumPy and pyserial), so this is
a standalone copy of ``toolchain.arith.fixed.quantize``: a real value becomes the code C++ ``T(x)`` gives for an
``ap_fixed<width, width - frac>`` (``ap_ufixed`` when unsigned) with the type's rounding and overflow modes.
The arith4ml tests check the two equal in every mode.
"""
from __future__ import annotations

import numpy as np

TIE_EXACT_BELOW = 2.0**52  # float64 holds every integer and half-integer below this: ties are decided exactly


def _round(v: np.ndarray, rounding: str) -> np.ndarray:
    """Round values already scaled by 2**frac to integers (float64), as ap_fixed's rounding modes do."""
    fl = np.floor(v)
    if rounding == "AP_TRN":
        return fl
    if rounding == "AP_TRN_ZERO":
        return np.where((v < 0) & (v > fl), fl + 1, fl)
    mid = fl + 0.5
    if rounding == "AP_RND":
        up = np.ones_like(fl)
    elif rounding == "AP_RND_MIN_INF":
        up = np.zeros_like(fl)
    elif rounding == "AP_RND_ZERO":
        up = (v < 0).astype(np.float64)
    elif rounding == "AP_RND_INF":
        up = (v > 0).astype(np.float64)
    elif rounding == "AP_RND_CONV":
        up = (np.mod(fl, 2) == 1).astype(np.float64)
    else:
        raise ValueError(f"unknown rounding mode {rounding}")
    rounded = fl + (v > mid) + (v == mid) * up
    return np.where(np.abs(v) >= TIE_EXACT_BELOW, v, rounded)


def _overflow(r: np.ndarray, width: int, signed: bool, overflow: str) -> np.ndarray:
    """Apply an ap_fixed overflow mode to integers held exactly in float64."""
    lo = -float(2 ** (width - 1)) if signed else 0.0
    hi = float(2 ** (width - 1) - 1) if signed else float(2**width - 1)
    if overflow == "AP_WRAP":
        span = float(2**width)
        w = np.fmod(r, span)
        w = np.where(w < 0, w + span, w)
        return np.where(w > hi, w - span, w) if signed else w
    if overflow == "AP_SAT_ZERO":
        return np.where((r < lo) | (r > hi), 0.0, r)
    if overflow == "AP_SAT_SYM" and signed:
        lo = -hi
    if overflow not in ("AP_SAT", "AP_SAT_SYM"):
        raise ValueError(f"unknown overflow mode {overflow}")
    return np.clip(r, lo, hi)


def quantize(x, width: int, frac: int, signed: bool, rounding: str = "AP_TRN", overflow: str = "AP_WRAP") -> np.ndarray:
    """Raw int64 codes of real values ``x``: exact scaling by 2**frac, then the rounding mode, then the overflow mode
    (as C++ ``T(x)`` for a double ``x``); NaN or infinity is refused."""
    x = np.asarray(x, dtype=np.float64)
    if not np.isfinite(x).all():
        raise ValueError("inputs must be finite (NaN or infinity found)")
    return _overflow(_round(np.ldexp(x, frac), rounding), width, signed, overflow).astype(np.int64)


def to_float(codes, frac: int) -> np.ndarray:
    """Values (float64) of codes with ``frac`` fractional bits: exact below 2**53."""
    return np.ldexp(np.asarray(codes, dtype=np.float64), -frac)
