"""ESSOP stochastic-computing outer product for Dense weight updates, bit-exact.

Project definition (docs/arithmetic.md, "ESSOP stochastic outer product"; the ESSOP
abstract leaves the details open, so what follows is ours).  The update
``dW = lr * delta x^T`` is computed as:

1. :func:`pow2_scale` ``x`` (post-ReLU, ``>= 0``) and ``delta`` by powers of two
   so that ``max|.|`` lies in ``[0.5, 1)``: ``x = xs * 2**sx``, ``delta = ds * 2**sd``.
2. :func:`quantize_magnitude`: ``q = floor(m * 2**w + 1/2)`` (AP_RND), an
   integer in ``[0, 2**w]``, for each magnitude ``m`` in ``xs`` and ``|ds|``;
   ``w`` is the width of the LFSR that drives that vector.
3. :func:`encode_streams`: one ``w``-bit random number ``r_t`` per time step
   ``t < BL``, shared by the whole vector (random-number reuse), and
   ``bit[t, j] = (r_t < q_j)`` (unsigned integer compare).
4. ``count[i, j] = popcount(X_j & D_i)`` (AND of the two streams, count the
   ones), and ``dW[i, j] = sign(delta_i) * count[i, j] * 2**(sx + sd - log2 BL + lr_shift)``:
   no multiplier, only a counter and shifts.

Random numbers: ``x`` is driven by ``LFSR(16, seed=0xACE1)`` (taps
``x^16 + x^14 + x^13 + x^11 + 1``) and ``|delta|`` by
``LFSR(16, seed=0x1D0F, taps=(16, 15, 13, 4))`` (``x^16 + x^15 + x^13 + x^4 + 1``):
two independent registers with different maximal polynomials.  Each register
is clocked ``leap = w`` times per random number (a leap-forward LFSR, one
hardware clock per number), so consecutive numbers share no register bits;
with one clock per number the shifted states are strongly correlated and the
stream variance is about twice the binomial one.  An LFSR state is never 0, so
``r_t`` is uniform on ``1 .. 2**w - 1`` over a period and
``P(bit = 1) = max(q - 1, 0) / (2**w - 1)`` (:func:`stream_probability`);
``q = 2**w`` gives all ones, ``q <= 1`` all zeros.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from toolchain.arith.checks import first_index, require_finite
from toolchain.errors import ArithValueError

__all__ = [
    "MAXIMAL_TAPS", "DEFAULT_WIDTH", "DEFAULT_SEED_X", "DEFAULT_SEED_D", "DEFAULT_TAPS_D", "LFSR",
    "pow2_scale", "quantize_magnitude", "stream_probability", "encode_streams", "EssopResult",
    "essop_update", "stochastic_outer_product", "expected_outer_product", "outer_product_variance",
]

# Maximal-length (primitive) feedback polynomials, as the exponents of the
# non-constant terms: (16, 14, 13, 11) is x^16 + x^14 + x^13 + x^11 + 1.
MAXIMAL_TAPS: dict[int, tuple[int, ...]] = {
    3: (3, 2), 4: (4, 3), 5: (5, 3), 6: (6, 5), 7: (7, 6), 8: (8, 6, 5, 4), 9: (9, 5),
    10: (10, 7), 11: (11, 9), 12: (12, 11, 10, 4), 13: (13, 12, 11, 8), 14: (14, 13, 12, 2),
    15: (15, 14), 16: (16, 14, 13, 11), 17: (17, 14), 18: (18, 11), 19: (19, 18, 17, 14),
    20: (20, 17), 21: (21, 19), 22: (22, 21), 23: (23, 18), 24: (24, 23, 22, 17),
    32: (32, 22, 2, 1),
}
DEFAULT_WIDTH = 16
DEFAULT_SEED_X = 0xACE1
DEFAULT_SEED_D = 0x1D0F
DEFAULT_TAPS_D = (16, 15, 13, 4)  # x^16 + x^15 + x^13 + x^4 + 1, also maximal


def _is_int(v: object) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


class LFSR:
    """Fibonacci LFSR of ``width`` bits (3..32), shifting right.

    Each clock: ``f = XOR of state bits (width - t) for t in taps``, then
    ``state = (state >> 1) | (f << (width - 1))``.  With the default 16-bit
    taps ``(16, 14, 13, 11)`` that is ``f = s0 ^ s2 ^ s3 ^ s5`` and
    ``0xACE1 -> 0x5670 -> 0xAB38 -> ...``.  ``taps`` defaults to
    ``MAXIMAL_TAPS[width]`` (period ``2**width - 1``); ``seed`` defaults to
    ``0xACE1`` masked to ``width`` bits (``1`` if that is 0) and must lie in
    ``1 .. 2**width - 1``.  ``leap`` (default ``width``) is the number of
    clocks between consecutive :meth:`numbers`.
    """

    def __init__(self, width: int = DEFAULT_WIDTH, seed: int | None = None,
                 taps: tuple[int, ...] | None = None, leap: int | None = None) -> None:
        if not _is_int(width) or not 3 <= width <= 32:
            raise ArithValueError(f"LFSR width={width!r} must be an integer in 3..32")
        width = int(width)
        if taps is None:
            if width not in MAXIMAL_TAPS:
                raise ArithValueError(
                    f"no maximal polynomial tabulated for LFSR width={width}; known widths: "
                    f"{', '.join(map(str, sorted(MAXIMAL_TAPS)))} (or pass taps=)")
            taps = MAXIMAL_TAPS[width]
        taps = tuple(taps)
        if not taps or any(not _is_int(t) or not 1 <= t <= width for t in taps) or width not in taps \
                or len(set(taps)) != len(taps):
            raise ArithValueError(
                f"LFSR taps={taps!r} must be distinct exponents in 1..{width} including {width}")
        if seed is None:
            seed = (DEFAULT_SEED_X & ((1 << width) - 1)) or 1
        if not _is_int(seed) or not 1 <= seed < (1 << width):
            raise ArithValueError(
                f"LFSR seed={seed!r} must be an integer in 1..{(1 << width) - 1} (0 locks the register)")
        if leap is None:
            leap = width
        if not _is_int(leap) or leap < 1:
            raise ArithValueError(f"LFSR leap={leap!r} must be an integer >= 1")
        self.width = width
        self.taps = tuple(int(t) for t in taps)
        self.seed = int(seed)
        self.leap = int(leap)
        self._mask = sum(1 << (width - t) for t in self.taps)
        self._state = self.seed

    @property
    def state(self) -> int:
        """Current register contents (never 0)."""
        return self._state

    @property
    def period(self) -> int:
        """``2**width - 1`` for a maximal polynomial (the tabulated ones are)."""
        return (1 << self.width) - 1

    def reset(self) -> None:
        """Back to the seed."""
        self._state = self.seed

    def copy(self) -> LFSR:
        """An independent register in the same state."""
        c = LFSR(self.width, self.seed, self.taps, self.leap)
        c._state = self._state
        return c

    def step(self, n: int = 1) -> int:
        """Clock the register ``n`` times; returns the new state."""
        s, mask, top = self._state, self._mask, self.width - 1
        for _ in range(n):
            s = (s >> 1) | (((s & mask).bit_count() & 1) << top)
        self._state = s
        return s

    def _take(self, n: int, stride: int) -> np.ndarray:
        if not _is_int(n) or n < 0:
            raise ArithValueError(f"number of LFSR outputs n={n!r} must be an integer >= 0")
        s, mask, top = self._state, self._mask, self.width - 1
        out = np.empty(int(n), dtype=np.uint32)
        for i in range(int(n)):
            out[i] = s
            for _ in range(stride):
                s = (s >> 1) | (((s & mask).bit_count() & 1) << top)
        self._state = s
        return out

    def sequence(self, n: int) -> np.ndarray:
        """The next ``n`` register states one clock apart, current state first (uint32).

        Afterwards the register holds the state after the last one returned,
        so consecutive calls continue the sequence.
        """
        return self._take(n, 1)

    def numbers(self, n: int) -> np.ndarray:
        """``n`` random numbers for stream encoding: states ``leap`` clocks apart, current first (uint32)."""
        return self._take(n, self.leap)

    def __repr__(self) -> str:
        return (f"LFSR(width={self.width}, seed=0x{self.seed:X}, taps={self.taps}, leap={self.leap}, "
                f"state=0x{self._state:X})")


# --------------------------------------------------------------------------- scaling and encoding

def _check_vector(v: np.ndarray | list, what: str) -> np.ndarray:
    v = np.asarray(v)
    if v.dtype.kind not in "biuf":
        raise ArithValueError(f"{what} has dtype {v.dtype}; expected a real numeric vector")
    v = v.astype(np.float64, copy=False)
    if v.ndim != 1:
        raise ArithValueError(f"{what} must be a 1-D vector; got shape {v.shape}")
    require_finite(v, what, vector=True)
    return v


def _check_bl(BL: int) -> int:
    if not _is_int(BL) or BL < 1 or (int(BL) & (int(BL) - 1)):
        raise ArithValueError(f"stream length BL={BL!r} must be a power of two >= 1")
    return int(BL)


def _check_width(width: int, what: str = "width") -> int:
    if not _is_int(width) or not 1 <= width <= 32:
        raise ArithValueError(f"random-number {what}={width!r} must be an integer in 1..32")
    return int(width)


def pow2_scale(v: np.ndarray) -> tuple[np.ndarray, int]:
    """Scale ``v`` by a power of two: returns ``(scaled, shift)`` with ``v == scaled * 2**shift``.

    ``max|scaled|`` lies in ``[0.5, 1)`` (``shift`` is the float64 exponent of
    ``max|v|``, i.e. a leading-zero count in hardware).  An all-zero (or empty)
    ``v`` gives ``(zeros, 0)``.  Exact, except elements more than ~2**1000
    below the maximum, which flush towards zero.  NaN/inf raise.
    """
    v = np.asarray(v)
    if v.dtype.kind not in "biuf":
        raise ArithValueError(f"pow2_scale() got dtype {v.dtype}; expected a real numeric array")
    v = v.astype(np.float64)
    require_finite(v, "pow2_scale() input")
    m = float(np.max(np.abs(v))) if v.size else 0.0
    if m == 0.0:
        return np.zeros_like(v), 0
    _, e = math.frexp(m)  # m = mant * 2**e, mant in [0.5, 1)
    return np.ldexp(v, -e), int(e)


def quantize_magnitude(mag: np.ndarray, width: int) -> np.ndarray:
    """``q = floor(mag * 2**width + 1/2)`` as int64, for ``mag`` in ``[0, 1]`` (so ``q`` in ``[0, 2**width]``).

    Round half up, computed exactly (``ap_ufixed<width+1, 1, AP_RND>`` code).
    Values outside ``[0, 1]`` or NaN raise, naming the index.
    """
    width = _check_width(width)
    mag = _check_vector(mag, "magnitude vector")
    first = first_index((mag < 0) | (mag > 1))
    if first is not None:
        i, = first
        raise ArithValueError(f"magnitude {mag[i]!r} at index {i} is outside [0, 1]")
    v = np.ldexp(mag, width)  # exact
    fl = np.floor(v)
    return (fl + (v - fl >= 0.5)).astype(np.int64)


def stream_probability(q: np.ndarray, width: int) -> np.ndarray:
    """``P(r < q)`` for ``r`` uniform on the LFSR states ``1 .. 2**width - 1``: ``max(q - 1, 0) / (2**width - 1)``."""
    width = _check_width(width)
    q = np.asarray(q, dtype=np.int64)
    return np.clip(q - 1, 0, (1 << width) - 1).astype(np.float64) / float((1 << width) - 1)


def encode_streams(mag: np.ndarray, BL: int, randoms: np.ndarray, width: int = DEFAULT_WIDTH) -> np.ndarray:
    """Bernoulli streams ``bool (BL, n)``: ``bit[t, j] = randoms[t] < quantize_magnitude(mag, width)[j]``.

    ``mag`` is a vector in ``[0, 1]``; ``randoms`` holds ``BL`` unsigned
    ``width``-bit integers, one per time step, shared by every element
    (random-number reuse).  Integer compare only, so C++ reproduces it exactly.
    """
    BL = _check_bl(BL)
    width = _check_width(width)
    q = quantize_magnitude(mag, width)
    r = np.asarray(randoms)
    if r.dtype.kind not in "iu" or r.shape != (BL,):
        raise ArithValueError(f"randoms must be {BL} integers (shape ({BL},)); got dtype {r.dtype}, shape {r.shape}")
    first = first_index((r < 0) | (r >= (1 << width)))
    if first is not None:
        i, = first
        raise ArithValueError(f"random number {int(r[i])} at step {i} does not fit {width} bits")
    return r.astype(np.int64)[:, None] < q[None, :]


# --------------------------------------------------------------------------- outer product

@dataclass(frozen=True)
class EssopResult:
    """Everything the hardware computes for one ESSOP update (layout ``(n_out, n_in)`` = ``delta x^T``).

    ``counts[i, j] = sign(delta_i) * popcount(X_j & D_i)`` (int64);
    ``dW = counts * 2**exponent`` with ``exponent = sx + sd - log2(BL) + lr_shift``.
    """

    counts: np.ndarray
    exponent: int
    sx: int
    sd: int
    qx: np.ndarray
    qd: np.ndarray
    x_bits: np.ndarray
    d_bits: np.ndarray

    @property
    def dw(self) -> np.ndarray:
        """float64 ``(n_out, n_in)`` update, exact (``ldexp`` of the counts)."""
        return np.ldexp(self.counts.astype(np.float64), self.exponent)

    def kernel(self) -> np.ndarray:
        """The update in Keras Dense kernel layout ``(n_in, n_out)``, i.e. ``dw.T``."""
        return np.ascontiguousarray(self.dw.T)


def _as_lfsr(v: LFSR | int | None, seed: int, taps: tuple[int, ...] | None, what: str) -> LFSR:
    if isinstance(v, LFSR):
        return v
    if v is None:
        return LFSR(DEFAULT_WIDTH, seed, taps)
    if _is_int(v):
        return LFSR(DEFAULT_WIDTH, int(v), taps)
    raise ArithValueError(f"{what}={v!r} must be an LFSR, an integer seed, or None")


def _check_inputs(x: np.ndarray, delta: np.ndarray, BL: int, lr_shift: int) -> tuple[np.ndarray, np.ndarray, int]:
    BL = _check_bl(BL)
    if not _is_int(lr_shift):
        raise ArithValueError(f"lr_shift={lr_shift!r} must be an integer (learning rate 2**lr_shift)")
    x = _check_vector(x, "x")
    delta = _check_vector(delta, "delta")
    first = first_index(x < 0)
    if first is not None:
        i, = first
        raise ArithValueError(f"x contains {x[i]!r} at index {i}; ESSOP needs x >= 0 (post-ReLU activations)")
    return x, delta, BL


def essop_update(x: np.ndarray, delta: np.ndarray, BL: int = 64, lfsr_x: LFSR | int | None = None,
                 lfsr_d: LFSR | int | None = None, lr_shift: int = 0) -> EssopResult:
    """One ESSOP update with all integer intermediates (see the module docstring).

    ``x`` (n_in,) ``>= 0``; ``delta`` (n_out,) signed; ``BL`` a power of two.
    ``lfsr_x`` / ``lfsr_d``: an :class:`LFSR` (advanced by ``BL`` numbers, so
    repeated calls draw fresh numbers; passing the same object for both splits
    one register, ``x`` drawing first), an integer seed for the default
    register of that stream, or None for a fresh default register.
    """
    x, delta, BL = _check_inputs(x, delta, BL, lr_shift)
    lx = _as_lfsr(lfsr_x, DEFAULT_SEED_X, None, "lfsr_x")
    ld = _as_lfsr(lfsr_d, DEFAULT_SEED_D, DEFAULT_TAPS_D, "lfsr_d")
    xs, sx = pow2_scale(x)
    ds, sd = pow2_scale(delta)
    rx = lx.numbers(BL)
    rd = ld.numbers(BL)
    x_bits = encode_streams(xs, BL, rx, lx.width)  # (BL, n_in)
    d_bits = encode_streams(np.abs(ds), BL, rd, ld.width)  # (BL, n_out)
    # popcount(X_j & D_i) for all i, j: a 0/1 matrix product, exact in float64 (counts <= BL < 2**53)
    pop = (d_bits.T.astype(np.float64) @ x_bits.astype(np.float64)).astype(np.int64)
    counts = np.where(ds < 0, -1, 1).astype(np.int64)[:, None] * pop
    exponent = sx + sd - (BL.bit_length() - 1) + int(lr_shift)
    return EssopResult(counts, exponent, sx, sd, quantize_magnitude(xs, lx.width),
                       quantize_magnitude(np.abs(ds), ld.width), x_bits, d_bits)


def stochastic_outer_product(x: np.ndarray, delta: np.ndarray, BL: int = 64, lfsr_x: LFSR | int | None = None,
                             lfsr_d: LFSR | int | None = None, lr_shift: int = 0,
                             kernel_layout: bool = False) -> np.ndarray:
    """ESSOP estimate of ``2**lr_shift * outer(delta, x)``: float64 ``(n_out, n_in)``.

    ``kernel_layout=True`` returns the transpose ``(n_in, n_out)``, the layout
    of a Keras Dense kernel.  Use :func:`essop_update` for the integer counts.
    """
    r = essop_update(x, delta, BL, lfsr_x, lfsr_d, lr_shift)
    return r.kernel() if kernel_layout else r.dw


def _expectation_parts(x, delta, BL, width_x, width_d, lr_shift):
    x, delta, BL = _check_inputs(x, delta, BL, lr_shift)
    width_x, width_d = _check_width(width_x, "width_x"), _check_width(width_d, "width_d")
    xs, sx = pow2_scale(x)
    ds, sd = pow2_scale(delta)
    px = stream_probability(quantize_magnitude(xs, width_x), width_x)
    pd = stream_probability(quantize_magnitude(np.abs(ds), width_d), width_d)
    p = pd[:, None] * px[None, :]
    sign = np.where(ds < 0, -1.0, 1.0)[:, None]
    exponent = sx + sd - (BL.bit_length() - 1) + int(lr_shift)
    return p, sign, BL, exponent


def expected_outer_product(x: np.ndarray, delta: np.ndarray, BL: int = 64, width_x: int = DEFAULT_WIDTH,
                           width_d: int = DEFAULT_WIDTH, lr_shift: int = 0, kernel_layout: bool = False) -> np.ndarray:
    """``E[dW]`` given the quantised magnitudes: ``sign(delta_i) * BL * px_j * pd_i * 2**exponent``.

    ``px``, ``pd`` are :func:`stream_probability` of the quantised magnitudes,
    with the two random numbers of a time step independent and uniform on the
    non-zero LFSR states (exactly true over independently, uniformly drawn
    seeds).  Differs from ``2**lr_shift * outer(delta, x)`` only by the
    ``w``-bit quantisation.
    """
    p, sign, BL, exponent = _expectation_parts(x, delta, BL, width_x, width_d, lr_shift)
    e = np.ldexp(sign * BL * p, exponent)
    return np.ascontiguousarray(e.T) if kernel_layout else e


def outer_product_variance(x: np.ndarray, delta: np.ndarray, BL: int = 64, width_x: int = DEFAULT_WIDTH,
                           width_d: int = DEFAULT_WIDTH, lr_shift: int = 0, kernel_layout: bool = False) -> np.ndarray:
    """Binomial-model ``Var[dW]``: ``BL * p * (1 - p) * 4**exponent`` with ``p = px_j * pd_i``.

    Treats the ``BL`` time steps as independent (the leap-forward LFSR makes
    that a good model; see the module docstring).
    """
    p, _, BL, exponent = _expectation_parts(x, delta, BL, width_x, width_d, lr_shift)
    v = np.ldexp(BL * p * (1.0 - p), 2 * exponent)
    return np.ascontiguousarray(v.T) if kernel_layout else v
