"""Ternary weights and the structured sparse (N,k) code, bit-exact.

Ternary weights are ``t * a`` with ``t`` in ``{-1, 0, +1}`` (int8) and ``a`` a
power of two, one per layer or one per output channel (the last axis, as in a
Keras Dense kernel ``(n_in, n_out)``).

The (N,k) code (Boo & Sung, SiPS 2017) allows at most ``k`` non-zeros in each
group of ``N`` consecutive weights along the input axis (axis 0).  A group is
stored as the index of its pattern in the canonical :func:`codebook`, which has
``sum_{i<=k} C(N,i) * 2**i`` rows (129 for (8,2): one 8-bit code per 8
weights, 1 bit/weight).  Hardware decodes the index with a small table and
adds or subtracts the selected inputs; :func:`nk_dot` models exactly that.

Canonical codebook order (the project's definition; the C++ decode tables are
generated from it):

1. by number of non-zeros ``i`` ascending (index 0 is the all-zero group);
2. then by the positions of the non-zeros, in ``itertools.combinations(range(N), i)``
   order (lexicographic on ascending position tuples);
3. then by signs in binary counting order ``c = 0 .. 2**i - 1`` where bit ``b``
   of ``c`` is the sign of the ``b``-th selected position (bit 0 -> first,
   i.e. lowest, position), bit clear = ``+1``, bit set = ``-1``.

So for N=2: ``[0,0], [+,0], [-,0], [0,+], [0,-], [+,+], [-,+], [+,-], [-,-]``.
Indices are stored as uint16, so a codebook may have at most 65536 rows, and
``N <= 32``.
"""
from __future__ import annotations

import itertools
import math
from functools import lru_cache

import numpy as np

from toolchain.arith.checks import first_index, require_finite
from toolchain.errors import ArithValueError

MAX_N = 32  # base-3 group keys must fit in int64 (3**32 < 2**63)
MAX_PATTERNS = 1 << 16  # indices are uint16
_SQRT_HALF = float(np.sqrt(0.5))

__all__ = [
    "ternarize", "ternary_from_values", "n_patterns", "codebook", "code_bits", "bits_per_weight",
    "encode_nk", "decode_nk", "project_nk", "nk_dot",
]


# --------------------------------------------------------------------------- helpers

def _as_float(w: np.ndarray | float, what: str) -> np.ndarray:
    w = np.asarray(w)
    if w.dtype.kind not in "biuf":
        raise ArithValueError(f"{what} has dtype {w.dtype}; expected a real numeric array")
    w = w.astype(np.float64, copy=False)
    require_finite(w, what)
    return w


def _is_int(v: object) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _check_nk(N: int, k: int) -> tuple[int, int]:
    """Validate the (N,k) code parameters; returns them as Python ints."""
    if not _is_int(N) or not 1 <= N <= MAX_N:
        raise ArithValueError(f"(N,k) code: N={N!r} must be an integer in 1..{MAX_N}")
    if not _is_int(k) or not 0 <= k <= N:
        raise ArithValueError(f"(N,k) code: k={k!r} must be an integer in 0..N={int(N)}")
    N, k = int(N), int(k)
    n = _n_patterns(N, k)
    if n > MAX_PATTERNS:
        raise ArithValueError(f"(N,k)=({N},{k}) code has {n} patterns; uint16 indices allow at most {MAX_PATTERNS}")
    return N, k


def _pow2_exponent_nearest(m: np.ndarray) -> np.ndarray:
    """``round(log2(m))`` for positive finite ``m``, computed on the mantissa (no log)."""
    mant, ex = np.frexp(m)  # m = mant * 2**ex, mant in [0.5, 1)
    return np.where(mant >= _SQRT_HALF, ex, ex - 1).astype(np.int64)


def _is_pow2(a: np.ndarray) -> np.ndarray:
    """True where ``a`` is a positive finite power of two (subnormals included)."""
    a = np.asarray(a, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        mant, _ = np.frexp(a)
    return np.isfinite(a) & (a > 0) & (mant == 0.5)


# --------------------------------------------------------------------------- ternarisation

def ternarize(w: np.ndarray, threshold: float = 0.7,
              per_channel: bool = False) -> tuple[np.ndarray, np.floating | np.ndarray]:
    """Ternarise float weights: returns ``(t, scale)`` with ``w ~= t * scale``.

    Rule (TWN-style, per layer or per last-axis channel):

    * ``delta = threshold * mean(|w|)``; ``t = sign(w)`` where ``|w| > delta``, else 0.
    * ``scale = 2**e`` with ``e = round(log2(mean(|w| over the non-zeros of t)))``,
      the power of two nearest in the log domain (decided exactly on the
      float64 mantissa: ``e`` rounds up iff the mantissa is ``>= sqrt(1/2)``).
    * A layer/channel with no non-zero ``t`` gets ``scale = 1.0``.

    ``t`` is int8 with ``w``'s shape.  ``scale`` is a float64 scalar
    (per layer) or a float64 array of shape ``(w.shape[-1],)`` (``per_channel``),
    so ``t * scale`` broadcasts either way.  ``threshold`` must be finite and
    ``>= 0``; NaN/inf weights raise :class:`ArithValueError`.
    """
    w = _as_float(w, "weights passed to ternarize()")
    thr = float(threshold) if isinstance(threshold, (int, float, np.integer, np.floating)) else None
    if thr is None or not math.isfinite(thr) or thr < 0:
        raise ArithValueError(f"ternarize threshold={threshold!r} must be a finite number >= 0")
    if w.size == 0:
        raise ArithValueError(f"ternarize() got an empty weight array of shape {w.shape}")
    if per_channel and w.ndim == 0:
        raise ArithValueError("ternarize(per_channel=True) needs at least one axis (channels are the last axis)")
    axes = tuple(range(w.ndim - 1)) if per_channel else None
    mag = np.abs(w)
    delta = thr * np.mean(mag, axis=axes, keepdims=per_channel)
    nz = mag > delta
    t = np.where(nz, np.sign(w), 0.0).astype(np.int8)
    count = np.sum(nz, axis=axes)
    total = np.sum(np.where(nz, mag, 0.0), axis=axes)
    mean_nz = np.where(count > 0, total / np.maximum(count, 1), 1.0)
    scale = np.ldexp(1.0, _pow2_exponent_nearest(np.asarray(mean_nz, dtype=np.float64)))
    if per_channel:
        return t, np.asarray(scale, dtype=np.float64)
    return t, np.float64(scale)


def ternary_from_values(w: np.ndarray, per_channel: bool = False) -> tuple[np.ndarray, np.floating | np.ndarray]:
    """Exactly decompose floats already in ``{-a, 0, +a}`` (``a`` a power of two) into ``(t, scale)``.

    ``a`` is ``|first non-zero|`` of the layer (or of each last-axis channel,
    ``per_channel=True``), in C order.  Any non-zero whose magnitude differs
    from its ``a``, or any non-zero at all when ``a`` is not a power of two,
    is an offending value; the first one in C order is named in the
    :class:`ArithValueError`.  All-zero layers/channels get ``scale = 1.0``.
    ``t * scale == w`` exactly on return.
    """
    w = np.asarray(w)
    if w.dtype.kind not in "biuf":
        raise ArithValueError(f"ternary weights have dtype {w.dtype}; expected a real numeric array")
    w = w.astype(np.float64, copy=False)
    if per_channel and w.ndim == 0:
        raise ArithValueError("ternary_from_values(per_channel=True) needs at least one axis")
    if per_channel:
        w2 = w.reshape(-1, w.shape[-1])
        has = w2 != 0  # NaN counts as non-zero
        first = np.argmax(has, axis=0)
        a = np.abs(w2[first, np.arange(w2.shape[1])])
        a = np.where(has.any(axis=0), a, 1.0)
        a_full = np.broadcast_to(a, w.shape)
    else:
        flat = w.ravel()
        nzpos = np.flatnonzero(flat != 0)
        a = abs(float(flat[nzpos[0]])) if nzpos.size else 1.0
        a_full = np.full(w.shape, a)
    nonzero = w != 0
    with np.errstate(invalid="ignore"):
        bad = nonzero & ((np.abs(w) != a_full) | ~_is_pow2(a_full))
    idx = first_index(bad)
    if idx is not None:
        v = float(w[idx])
        ref = float(a_full[idx])
        if not math.isfinite(v):
            why = "not a finite number"
        elif not _is_pow2(np.float64(ref)):
            why = f"its scale {ref!r} (first non-zero magnitude) is not a power of two"
        else:
            why = f"expected 0 or +-{ref!r}"

        raise ArithValueError(f"weight {v!r} at index {idx} is not ternary: {why}")
    t = np.sign(w).astype(np.int8)
    if per_channel:
        return t, np.asarray(a, dtype=np.float64)
    return t, np.float64(a)


# --------------------------------------------------------------------------- codebook

def _n_patterns(N: int, k: int) -> int:
    return sum(math.comb(N, i) << i for i in range(k + 1))


def n_patterns(N: int, k: int) -> int:
    """Number of (N,k) patterns: ``sum_{i<=k} C(N,i) * 2**i`` (129 for (8,2))."""
    N, k = _check_nk(N, k)
    return _n_patterns(N, k)


@lru_cache(maxsize=None)
def _tables(N: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(codebook, sorted base-3 keys, index of each sorted key, slot positions, slot signs); all read-only."""
    width = max(k, 1)
    cbs, poss, signs = [], [], []
    for i in range(k + 1):
        counter = np.arange(1 << i, dtype=np.int64)[:, None]
        sign = (1 - 2 * ((counter >> np.arange(i, dtype=np.int64)) & 1)).astype(np.int8)  # (2**i, i)
        for pos in itertools.combinations(range(N), i):
            block = np.zeros((1 << i, N), dtype=np.int8)
            block[:, list(pos)] = sign
            slot_pos = np.zeros((1 << i, width), dtype=np.int64)
            slot_pos[:, :i] = pos
            slot_sign = np.zeros((1 << i, width), dtype=np.int8)
            slot_sign[:, :i] = sign
            cbs.append(block)
            poss.append(slot_pos)
            signs.append(slot_sign)
    cb = np.concatenate(cbs)
    keys = _group_keys(cb, axis=1)
    order = np.argsort(keys, kind="stable")
    # decode table as hardware holds it: up to k (position, sign) slots per pattern, unused slots sign 0
    slot_pos, slot_sign = np.concatenate(poss), np.concatenate(signs)
    out = (cb, keys[order], order.astype(np.int64), slot_pos, slot_sign)
    for a in out:
        a.setflags(write=False)
    return out


def _group_keys(g: np.ndarray, axis: int) -> np.ndarray:
    """Base-3 value of ternary groups along ``axis``.

    Digit ``t mod 3`` (0, 1, -1 -> 0, 1, 2); position ``p`` weighs ``3**p``.
    """
    n = g.shape[axis]
    pw = np.power(np.int64(3), np.arange(n, dtype=np.int64))
    d = np.mod(g.astype(np.int64), 3)
    return np.tensordot(d, pw, axes=([axis], [0]))


def codebook(N: int, k: int) -> np.ndarray:
    """The canonical (N,k) codebook, int8 ``(n_patterns, N)``, read-only and cached.

    Order: number of non-zeros ascending; then positions in
    ``itertools.combinations`` order; then signs counting in binary with bit 0
    of the counter on the first selected position, 0 = ``+1``, 1 = ``-1``.
    Row 0 is the all-zero group.
    """
    N, k = _check_nk(N, k)
    return _tables(N, k)[0]


def code_bits(N: int, k: int) -> int:
    """Bits of one group index: ``ceil(log2(n_patterns))`` (8 for (8,2); 0 for k=0)."""
    return (n_patterns(N, k) - 1).bit_length()


def bits_per_weight(N: int, k: int) -> float:
    """Storage cost in bits per weight: ``code_bits(N, k) / N`` (1.0 for (8,2))."""
    return code_bits(N, k) / int(N)


# --------------------------------------------------------------------------- codec

def _check_ternary_matrix(t: np.ndarray, what: str) -> np.ndarray:
    t = np.asarray(t)
    if t.ndim != 2:
        raise ArithValueError(f"{what} must be a 2-D (n_in, n_out) array; got shape {t.shape}")
    if t.dtype.kind not in "biuf":
        raise ArithValueError(f"{what} has dtype {t.dtype}; expected integers in {{-1, 0, 1}}")
    first = first_index(~((t == 0) | (t == 1) | (t == -1)))
    if first is not None:
        r, c = first
        raise ArithValueError(f"{what} has value {t[r, c]!r} at row {r}, column {c}; ternary values must be -1, 0 or 1")
    return t.astype(np.int8)


def _group(a: np.ndarray, N: int) -> np.ndarray:
    """Zero-pad axis 0 to a multiple of N and reshape ``(n_in, m) -> (n_groups, N, m)``."""
    n_in = a.shape[0]
    n_groups = -(-n_in // N)
    pad = n_groups * N - n_in
    if pad:
        a = np.concatenate([a, np.zeros((pad,) + a.shape[1:], dtype=a.dtype)], axis=0)
    return a.reshape((n_groups, N) + a.shape[1:])


def encode_nk(t: np.ndarray, N: int = 8, k: int = 2) -> np.ndarray:
    """Encode a ternary ``(n_in, n_out)`` matrix as uint16 pattern indices ``(ceil(n_in/N), n_out)``.

    Group ``g`` of column ``j`` is rows ``g*N .. g*N+N-1`` (rows past ``n_in``
    are zero padding).  Raises :class:`ArithValueError` naming the value
    (row, column) if ``t`` is not in ``{-1,0,1}``, or naming the group and
    column if a group has more than ``k`` non-zeros (use :func:`project_nk`).
    """
    N, k = _check_nk(N, k)
    t = _check_ternary_matrix(t, "ternary matrix passed to encode_nk()")
    g = _group(t, N)  # (n_groups, N, n_out)
    nnz = np.count_nonzero(g, axis=1)
    first = first_index(nnz > k)
    if first is not None:
        gi, j = first
        raise ArithValueError(
            f"group {gi} (rows {gi * N}..{gi * N + N - 1}), column {j} has {int(nnz[gi, j])} non-zeros; "
            f"the ({N},{k}) code allows at most k={k}")
    _, sorted_keys, order, _, _ = _tables(N, k)
    keys = _group_keys(g, axis=1)  # (n_groups, n_out)
    pos = np.searchsorted(sorted_keys, keys)
    return order[pos].astype(np.uint16)


def _check_idx(idx: np.ndarray, N: int, k: int, n_in: int, what: str) -> np.ndarray:
    idx = np.asarray(idx)
    if idx.ndim != 2:
        raise ArithValueError(f"{what} must be a 2-D (n_groups, n_out) array; got shape {idx.shape}")
    if idx.dtype.kind not in "iu":
        raise ArithValueError(f"{what} has dtype {idx.dtype}; expected unsigned integer pattern indices")
    if not _is_int(n_in) or n_in < 0:
        raise ArithValueError(f"n_in={n_in!r} must be an integer >= 0")
    n_groups = -(-int(n_in) // N)
    if idx.shape[0] != n_groups:
        raise ArithValueError(
            f"{what} has {idx.shape[0]} groups but n_in={n_in} with N={N} needs {n_groups}")
    n = _n_patterns(N, k)
    first = first_index((idx < 0) | (idx >= n))
    if first is not None:
        gi, j = first
        raise ArithValueError(
            f"{what} has index {int(idx[gi, j])} at group {gi}, column {j}; the ({N},{k}) codebook has "
            f"indices 0..{n - 1}")
    return idx.astype(np.int64)


def decode_nk(idx: np.ndarray, N: int, k: int, n_in: int) -> np.ndarray:
    """Decode pattern indices ``(n_groups, n_out)`` back to an int8 ternary ``(n_in, n_out)`` matrix.

    Out-of-range indices, a group count that does not match ``n_in``, or a
    last group with non-zeros in its padding rows raise :class:`ArithValueError`.
    """
    N, k = _check_nk(N, k)
    idx = _check_idx(idx, N, k, n_in, "(N,k) index array passed to decode_nk()")
    cb = _tables(N, k)[0]
    g = cb[idx]  # (n_groups, n_out, N)
    full = g.transpose(0, 2, 1).reshape(idx.shape[0] * N, idx.shape[1])
    tail = full[n_in:]
    first = first_index(tail)
    if first is not None:
        r, j = first
        gi = (n_in + r) // N
        raise ArithValueError(
            f"index {int(idx[gi, j])} at group {gi}, column {j} sets padding row {n_in + r} (n_in={n_in})")
    return np.ascontiguousarray(full[:n_in])


def project_nk(w: np.ndarray, N: int = 8, k: int = 2) -> np.ndarray:
    """Project onto the (N,k) constraint along axis 0: in each group keep the ``k`` largest ``|w|``.

    Ties are broken in favour of the lower position; the rest become 0.
    Works on float or integer (e.g. ternary) arrays of any shape with
    ``ndim >= 1`` (groups run along axis 0, the input axis of a Dense kernel);
    returns the same shape and dtype.  NaN/inf raise :class:`ArithValueError`.
    """
    N, k = _check_nk(N, k)
    w = np.asarray(w)
    if w.ndim == 0:
        raise ArithValueError("project_nk() needs an array with an input axis (axis 0); got a scalar")
    if w.dtype.kind == "f":
        require_finite(w, "weights passed to project_nk()")
        mag = np.abs(w)
    elif w.dtype.kind in "biu":
        mag = np.abs(w.astype(np.int64))
    else:
        raise ArithValueError(f"project_nk() got dtype {w.dtype}; expected a real numeric array")
    n_in = w.shape[0]
    g = _group(mag.reshape(n_in, math.prod(w.shape[1:])), N)  # (n_groups, N, m)
    # stable descending sort with ties to the lower position: sort the reversed group ascending
    asc = np.argsort(g[:, ::-1, :], axis=1, kind="stable")
    desc = (N - 1 - asc)[:, ::-1, :]
    keep = np.zeros(g.shape, dtype=bool)
    np.put_along_axis(keep, desc[:, :k, :], True, axis=1)
    keep = keep.reshape(-1, g.shape[2])[:n_in].reshape(w.shape)
    return np.where(keep, w, np.zeros((), dtype=w.dtype)).astype(w.dtype, copy=False)


def nk_dot(x_codes: np.ndarray, idx: np.ndarray, N: int, k: int, n_in: int) -> np.ndarray:
    """``x @ decode_nk(idx)`` computed as the hardware does: table decode, then add/subtract.

    ``x_codes`` is an integer array ``(n_in,)`` or ``(batch, n_in)`` of
    activation codes.  Each group index is looked up in a decode table of up to
    ``k`` (position, sign) slots; a slot adds or subtracts the selected input
    (no multiplication).  Returns int64 ``(n_out,)`` or ``(batch, n_out)``.
    """
    N, k = _check_nk(N, k)
    idx = _check_idx(idx, N, k, n_in, "(N,k) index array passed to nk_dot()")
    decode_nk(idx, N, k, n_in)  # validates the padding rows
    x = np.asarray(x_codes)
    if x.dtype.kind not in "iub":
        raise ArithValueError(f"nk_dot() x_codes has dtype {x.dtype}; expected integer activation codes")
    if x.ndim not in (1, 2) or x.shape[-1] != n_in:
        raise ArithValueError(
            f"nk_dot() x_codes has shape {x.shape}; expected (n_in,) or (batch, n_in) with n_in={n_in}")
    squeeze = x.ndim == 1
    x2 = np.atleast_2d(x).astype(np.int64)
    xg = _group(x2.T, N)  # (n_groups, N, batch)
    n_groups, n_out = idx.shape
    _, _, _, slot_pos, slot_sign = _tables(N, k)
    acc = np.zeros((x2.shape[0], n_out), dtype=np.int64)
    gidx = np.arange(n_groups)[:, None]
    for s in range(k):
        pos = slot_pos[idx, s]  # (n_groups, n_out)
        sign = slot_sign[idx, s]
        sel = xg[gidx, pos]  # (n_groups, n_out, batch): the selected input of each group
        term = np.where((sign == 1)[..., None], sel, np.where((sign == -1)[..., None], -sel, 0))
        acc += term.sum(axis=0).T
    return acc[0] if squeeze else acc
