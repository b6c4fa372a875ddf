"""Bit-exact model of residue number system (RNS) arithmetic.

A set of pairwise-coprime moduli ``m_1..m_r`` has dynamic range
``M = m_1 * ... * m_r``.  A signed integer ``X`` with ``|X| < M/2`` is held as
its residues ``|X|_{m_j}`` (each in ``[0, m_j)``); reverse conversion reads a
value at or above ``M/2`` as ``X - M``, so every residue tuple decodes to one
integer in ``[-(M // 2), (M - 1) // 2]``.  The default family is
``(2**n - 1, 2**n, 2**n + 1)``.

Residue arrays carry the moduli on a leading axis: ``res[j]`` holds the
residues modulo ``moduli[j]``.

Limits (integer-exact throughout; no intermediate can overflow int64):

* forward and reverse conversion need ``M <= 2**62`` (:data:`MAX_DYNAMIC_RANGE`);
  the family reaches it up to ``n = 20``.  Constants are precomputed as Python
  ints, modular products with a constant use an add-and-double loop whenever a
  plain int64 product could overflow, and every partial sum stays below
  ``2 * M <= 2**63``.
* :func:`modular_dot` needs every modulus ``<= 2**31 + 1``
  (:data:`MAX_DOT_MODULUS`) so one residue product fits in int64; its dense
  path uses float64 BLAS only in chunks whose partial sums stay integers
  below ``2**53`` (exact), else int64.

The last section models the division-free residue data path of ``nnet_rns.h`` step by step (chunk folds for
``2**n`` and ``2**n +- 1``, Barrett for other moduli, forward conversion by folding, CRT and mixed radix
without division): :func:`reduce_bounded`, :func:`barrett_reduce`, :func:`mod_mul`, :func:`to_residue_fold`,
:func:`crt_division_free`, :func:`mrc_division_free` and their helpers.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Iterable, NamedTuple, Sequence

import numpy as np

from toolchain.arith.checks import first_index
from toolchain.errors import ArithValueError

MAX_DYNAMIC_RANGE = 2**62  # largest M the int64 conversions support
REVERSE_CONVERSIONS = ("crt", "mrc")  # Chinese remainder theorem, mixed radix
MAX_DOT_MODULUS = 2**31 + 1  # (m - 1)**2 <= 2**62: one residue product fits in int64
_INT64_MAX = 2**63 - 1
_FLOAT_EXACT = 2**53  # float64 holds every integer up to here exactly


# --------------------------------------------------------------------------- moduli


def validate_moduli(moduli: Iterable[int]) -> tuple[int, ...]:
    """Check a moduli set and return it as a tuple of Python ints (order kept).

    Each modulus must be an integer > 1 (``bool``, ``float`` and ``str`` are
    refused, even ``8.0`` or ``"8"``); there must be at least two, with no
    duplicates, and every pair must be coprime.
    """
    if isinstance(moduli, (str, bytes)) or not hasattr(moduli, "__iter__"):
        raise ArithValueError(f"moduli {moduli!r} must be a sequence of integers, e.g. (7, 8, 9)")
    items = list(moduli)
    out: list[int] = []
    for m in items:
        if isinstance(m, (bool, np.bool_)) or not isinstance(m, (int, np.integer)):
            raise ArithValueError(f"modulus {m!r} ({type(m).__name__}) in {tuple(items)!r} is not an integer")
        if m <= 1:
            raise ArithValueError(f"modulus {int(m)} in {tuple(items)!r} must be > 1")
        out.append(int(m))
    if len(out) < 2:
        raise ArithValueError(f"moduli {tuple(out)!r}: an RNS needs at least two moduli")
    for a in range(len(out)):
        for b in range(a + 1, len(out)):
            if out[a] == out[b]:
                raise ArithValueError(f"duplicate modulus {out[a]} in {tuple(out)!r}")
            g = math.gcd(out[a], out[b])
            if g != 1:
                raise ArithValueError(
                    f"moduli {out[a]} and {out[b]} in {tuple(out)!r} are not coprime (gcd {g})")
    return tuple(out)


def moduli_family(n: int) -> tuple[int, int, int]:
    """The default family ``(2**n - 1, 2**n, 2**n + 1)``, ``n >= 2`` (pairwise coprime for every n)."""
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ArithValueError(f"moduli family exponent n={n!r} must be an integer >= 2")
    n = int(n)
    return (2**n - 1, 2**n, 2**n + 1)


def dynamic_range(moduli: Iterable[int]) -> int:
    """``M``, the product of the moduli (a Python int, unbounded)."""
    return math.prod(validate_moduli(moduli))


def _check_max_abs(max_abs: int) -> int:
    if isinstance(max_abs, (bool, np.bool_)) or not isinstance(max_abs, (int, np.integer)) or max_abs < 0:
        raise ArithValueError(f"max_abs={max_abs!r} must be a non-negative integer")
    return int(max_abs)


def select_moduli(max_abs: int, n_min: int = 2) -> tuple[int, int, int]:
    """Smallest family member ``(2**n-1, 2**n, 2**n+1)``, ``n >= n_min``, with ``M > 2 * max_abs``.

    Raises if that ``M`` exceeds :data:`MAX_DYNAMIC_RANGE` (the conversions
    could not run on it).
    """
    max_abs = _check_max_abs(max_abs)
    n = moduli_family(n_min)[1].bit_length() - 1  # validates n_min
    while math.prod(moduli_family(n)) <= 2 * max_abs:
        n += 1
    moduli = moduli_family(n)
    if math.prod(moduli) > MAX_DYNAMIC_RANGE:
        raise ArithValueError(
            f"|X| <= {max_abs} needs the moduli family n={n} {moduli}, whose M={math.prod(moduli)} exceeds "
            f"the 2**62 this RNS model supports")
    return moduli


def extend_moduli(base: Iterable[int], max_abs: int) -> tuple[int, ...]:
    """``base`` (e.g. the moduli a residue regularizer trained for), extended until ``M > 2 * max_abs``.

    Added moduli come from the hardware-friendly families ``2**n - 1, 2**n, 2**n + 1`` in increasing
    order, each coprime to all before it, so the base channels (where training made weight residues
    zero) are kept.  ``base`` itself if it already covers ``max_abs``.  Raises if ``M`` would pass
    :data:`MAX_DYNAMIC_RANGE`.
    """
    moduli = list(validate_moduli(base))
    max_abs = _check_max_abs(max_abs)
    n = 2
    while math.prod(moduli) <= 2 * max_abs:
        for m in moduli_family(n):
            if m not in moduli and all(math.gcd(m, other) == 1 for other in moduli):
                moduli.append(m)
                break
        else:
            n += 1
        if math.prod(moduli) > MAX_DYNAMIC_RANGE:
            raise ArithValueError(f"extending moduli {tuple(validate_moduli(base))} to cover |X| <= {max_abs} "
                                  f"passes the 2**62 this RNS model supports")
    return tuple(moduli)


def check_range(moduli: Iterable[int], max_abs: int) -> int:
    """Return ``M`` if it covers ``|X| <= max_abs`` (``M > 2 * max_abs``); else raise saying how many bits are missing.

    "Bits missing" is the smallest ``k`` with ``M * 2**k > 2 * max_abs``.
    """
    moduli = validate_moduli(moduli)
    max_abs = _check_max_abs(max_abs)
    big_m = math.prod(moduli)
    if big_m > 2 * max_abs:
        return big_m
    need = (2 * max_abs).bit_length()  # = ceil(log2(2*max_abs + 1)) for max_abs >= 1
    missing = _missing_bits(big_m, max_abs)
    raise ArithValueError(
        f"moduli {moduli} give M={big_m} ({math.log2(big_m):.2f} bits) but the accumulator needs "
        f"|X| <= {max_abs} -> 2*max+1 needs {need} bits: {missing} bit{'s' if missing != 1 else ''} missing")


def _missing_bits(big_m: int, max_abs: int) -> int:
    """Smallest ``k`` with ``M * 2**k > 2 * max_abs``."""
    k = max(0, (2 * max_abs).bit_length() - big_m.bit_length())
    while (big_m << k) <= 2 * max_abs:
        k += 1
    return k


def _conversion_moduli(moduli: Iterable[int]) -> tuple[tuple[int, ...], int]:
    moduli = validate_moduli(moduli)
    big_m = math.prod(moduli)
    if big_m > MAX_DYNAMIC_RANGE:
        raise ArithValueError(
            f"moduli {moduli} give M={big_m} (> 2**62); the int64 RNS conversions support M <= 2**62")
    return moduli, big_m


# --------------------------------------------------------------------------- helpers


def _int64_array(x, what: str) -> np.ndarray:
    """``x`` as an int64 array; integral finite floats are accepted, anything else raises naming the value."""
    a = np.asarray(x)
    if a.dtype.kind == "i":
        return a.astype(np.int64, copy=False)
    if a.dtype.kind == "u":
        idx = first_index(a > np.uint64(_INT64_MAX)) if a.dtype.itemsize == 8 else None
        if idx is not None:
            raise ArithValueError(f"{what} value {int(a[idx])} at index {idx} does not fit in int64")
        return a.astype(np.int64)
    if a.dtype.kind == "f":
        bad = ~np.isfinite(a) | (np.floor(a) != a) | (np.abs(a) >= 2.0**63)
        idx = first_index(bad)
        if idx is not None:
            raise ArithValueError(f"{what} value {a[idx]!r} at index {idx} is not an int64 integer")
        return a.astype(np.int64)
    if a.dtype.kind == "O":
        flat = a.ravel()
        for k, v in enumerate(flat):
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or not \
                    -(2**63) <= v <= _INT64_MAX:
                idx = tuple(int(i) for i in np.unravel_index(k, a.shape))
                raise ArithValueError(f"{what} value {v!r} at index {idx} is not an int64 integer")
        return a.astype(np.int64)
    raise ArithValueError(f"{what} must hold integers, got dtype {a.dtype} (e.g. {a.ravel()[:1]!r})")


def _check_residues(res: np.ndarray, moduli: tuple[int, ...], what: str) -> None:
    if res.ndim < 1 or res.shape[0] != len(moduli):
        raise ArithValueError(
            f"{what} has shape {res.shape}; expected a leading moduli axis of length {len(moduli)} for {moduli}")
    for j, m in enumerate(moduli):
        bad = (res[j] < 0) | (res[j] >= m)
        idx = first_index(bad)
        if idx is not None:
            raise ArithValueError(
                f"{what} value {int(res[j][idx])} at channel {j} (modulus {m}), index {idx}, is not in [0, {m})")


def _mulmod_const(a: np.ndarray, c: int, m: int) -> np.ndarray:
    """``(a * c) mod m`` for int64 ``a`` in ``[0, m)``, Python int ``c``, ``m <= 2**62``, without overflow."""
    c %= m
    if c == 0:
        return np.zeros_like(a)
    if (m - 1) * c <= _INT64_MAX:  # the plain product fits
        return (a * np.int64(c)) % np.int64(m)
    mm = np.int64(m)
    r = np.zeros_like(a)
    for bit in bin(c)[2:]:  # Horner over the bits of c: r = 2r (+ a), reduced each step; r < m so 2r < 2**63
        r = r + r
        r = np.where(r >= mm, r - mm, r)
        if bit == "1":
            r = r + a
            r = np.where(r >= mm, r - mm, r)
    return r


def _signed(u: np.ndarray, big_m: int) -> np.ndarray:
    """Read unsigned values ``u`` in ``[0, M)`` as signed: ``u >= M/2`` becomes ``u - M``."""
    return np.where(u >= np.int64((big_m + 1) // 2), u - np.int64(big_m), u)


# --------------------------------------------------------------------------- conversions


def to_residues(x, moduli: Iterable[int]) -> np.ndarray:
    """Residues ``|x|_{m_j}`` of signed integers with ``|x| < M/2``; int64, shape ``(r, *x.shape)``."""
    moduli, big_m = _conversion_moduli(moduli)
    x = _int64_array(x, "RNS input")
    half = np.int64((big_m - 1) // 2)  # |x| < M/2  <=>  |x| <= (M-1)//2 for integers
    bad = (x > half) | (x < -half)
    idx = first_index(bad)
    if idx is not None:
        v = int(x[idx])
        half_m = f"{big_m // 2}{'.5' if big_m % 2 else ''}"
        raise ArithValueError(
            f"value {v} at index {idx} is outside the range of moduli {moduli}: need |x| < M/2 = {half_m} "
            f"(M={big_m}): {_missing_bits(big_m, abs(v))} bit(s) missing")
    return np.stack([np.mod(x, np.int64(m)) for m in moduli]).astype(np.int64, copy=False)


def from_residues_crt(residues, moduli: Iterable[int]) -> np.ndarray:
    """Signed int64 values from residues by the Chinese remainder theorem.

    ``X = | sum_j |r_j * inv_j|_{m_j} * M_j |_M`` with ``M_j = M / m_j`` and
    ``inv_j = M_j**-1 mod m_j``; each term is below ``M`` and the running sum
    is reduced after every add, so nothing exceeds ``2M - 2 < 2**63``.
    """
    moduli, big_m = _conversion_moduli(moduli)
    res = _int64_array(residues, "residues")
    _check_residues(res, moduli, "residues")
    mm = np.int64(big_m)
    acc = np.zeros(res.shape[1:], dtype=np.int64)
    for j, m in enumerate(moduli):
        mj = big_m // m
        t = _mulmod_const(res[j], pow(mj, -1, m), m)  # in [0, m)
        acc = acc + t * np.int64(mj)  # t * mj < M, acc < M
        acc = np.where(acc >= mm, acc - mm, acc)
    return _signed(acc, big_m)


def from_residues_mrc(residues, moduli: Iterable[int]) -> np.ndarray:
    """Signed int64 values from residues by mixed-radix conversion.

    Digits ``a_j`` in ``[0, m_j)`` with ``X = a_1 + a_2 m_1 + a_3 m_1 m_2 + ...``;
    ``a_j = |(...((r_j - a_1) c_1j - a_2) c_2j ... - a_{j-1}) c_{j-1,j}|_{m_j}``,
    ``c_kj = m_k**-1 mod m_j``.  The weighted sum never exceeds ``M - 1``.
    """
    moduli, big_m = _conversion_moduli(moduli)
    res = _int64_array(residues, "residues")
    _check_residues(res, moduli, "residues")
    digits: list[np.ndarray] = []
    for j, m in enumerate(moduli):
        mj = np.int64(m)
        t = res[j]
        for k in range(j):
            t = np.mod(t - digits[k], mj)  # digits[k] < m_k <= 2**62: no overflow
            t = _mulmod_const(t, pow(moduli[k], -1, m), m)
        digits.append(t)
    acc = np.zeros(res.shape[1:], dtype=np.int64)
    weight = 1
    for j, m in enumerate(moduli):
        acc = acc + digits[j] * np.int64(weight)  # partial sums stay below the next weight <= M
        weight *= m
    return _signed(acc, big_m)


# --------------------------------------------------------------------------- layer arithmetic


def modular_dot(x_res, w_res, moduli: Iterable[int], skip_zeros: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel modular dot product of an RNS dense layer.

    ``x_res`` (r, batch, n_in) and ``w_res`` (r, n_in, n_out) are residues;
    returns ``y_res`` (r, batch, n_out) with ``y_j = | sum_i w_j[i,o] * x_j[b,i] |_{m_j}``
    and ``terms`` (int64, shape (r,)): per channel, the number of ``(i, o)``
    weight terms whose residue is non-zero (the terms hardware generates).

    ``skip_zeros=True`` computes literally like the hardware: only non-zero
    weight residues generate a term, each reduced mod ``m`` before the adder
    tree (slow: a gather per term).  ``skip_zeros=False`` (default, ~10-40x
    faster) is a dense matmul reduced mod ``m`` in chunks small enough to stay
    exact: float64 BLAS while partial sums stay below ``2**53``, else int64.
    Both give identical ``y_res`` and ``terms``.
    """
    moduli = validate_moduli(moduli)
    for m in moduli:
        if m > MAX_DOT_MODULUS:
            raise ArithValueError(f"modulus {m} in {moduli} exceeds {MAX_DOT_MODULUS} (2**31+1) for modular_dot")
    x = _int64_array(x_res, "x residues")
    w = _int64_array(w_res, "w residues")
    r = len(moduli)
    if x.ndim != 3 or w.ndim != 3 or x.shape[0] != r or w.shape[0] != r or x.shape[2] != w.shape[1]:
        raise ArithValueError(
            f"modular_dot shapes x_res {x.shape} and w_res {w.shape} do not fit: expected ({r}, batch, n_in) "
            f"and ({r}, n_in, n_out) for moduli {moduli}")
    _check_residues(x, moduli, "x residues")
    _check_residues(w, moduli, "w residues")
    batch, n_in = x.shape[1], x.shape[2]
    n_out = w.shape[2]
    y = np.zeros((r, batch, n_out), dtype=np.int64)
    terms = np.zeros(r, dtype=np.int64)
    for j, m in enumerate(moduli):
        mm = np.int64(m)
        terms[j] = np.count_nonzero(w[j])
        if skip_zeros:
            i_idx, o_idx = np.nonzero(w[j])
            if i_idx.size:
                order = np.argsort(o_idx, kind="stable")
                i_idx, o_idx = i_idx[order], o_idx[order]
                w_nz = w[j][i_idx, o_idx]
                starts = np.flatnonzero(np.r_[True, o_idx[1:] != o_idx[:-1]])
                chunk = max(1, (1 << 22) // i_idx.size)  # bound the (chunk, nnz) temporary
                for lo in range(0, batch, chunk):
                    prod = (x[j][lo:lo + chunk, i_idx] * w_nz) % mm  # one term per non-zero residue, each < m
                    y[j][lo:lo + chunk, o_idx[starts]] = np.add.reduceat(prod, starts, axis=1) % mm  # sum < n_in*m
        elif (m - 1) ** 2 + (m - 1) <= _FLOAT_EXACT:
            # float64 BLAS is exact while every partial sum is an integer below 2**53
            step = max(1, (_FLOAT_EXACT - (m - 1)) // max(1, (m - 1) ** 2))  # terms per chunk, carry < m
            xf, wf = x[j].astype(np.float64), w[j].astype(np.float64)
            acc = np.zeros((batch, n_out), dtype=np.float64)
            for lo in range(0, n_in, step):
                acc = np.fmod(acc + xf[:, lo:lo + step] @ wf[lo:lo + step, :], float(m))
            y[j] = acc.astype(np.int64)
        else:
            step = max(1, (_INT64_MAX - (m - 1)) // max(1, (m - 1) ** 2))  # terms per chunk, carry < m
            acc = np.zeros((batch, n_out), dtype=np.int64)
            for lo in range(0, n_in, step):
                acc = (acc + x[j][:, lo:lo + step] @ w[j][lo:lo + step, :]) % mm
            y[j] = acc
    return y, terms


def residue_sparsity(w_codes, moduli: Iterable[int]) -> dict:
    """Fraction of zero residues of integer weight codes, per modulus and overall.

    Returns ``{m_1: f_1, ..., m_r: f_r, "total": f}`` where ``f_j`` is the
    fraction of weights with ``|w|_{m_j} == 0`` and ``total`` the fraction of
    all (weight, modulus) pairs that are zero (the mean of the ``f_j``).  A
    zero weight is zero in every channel.
    """
    moduli = validate_moduli(moduli)
    w = _int64_array(w_codes, "weight codes")
    if w.size == 0:
        raise ArithValueError("weight codes are empty; residue sparsity is undefined")
    out: dict = {}
    zeros = 0
    for m in moduli:
        z = int(np.count_nonzero(np.mod(w, np.int64(m)) == 0))
        out[m] = z / w.size
        zeros += z
    out["total"] = zeros / (w.size * len(moduli))
    return out


def rns_matmul(x_int, w_int, moduli: Sequence[int], reverse: str = "crt") -> np.ndarray:
    """``x_int @ w_int`` computed in RNS (forward, :func:`modular_dot`, reverse); int64 (batch, n_out).

    Checks first that ``M`` covers the worst case ``max_o sum_i max_b|x[b, i]| * |w[i, o]|``
    (:func:`check_range`), so the result always equals the integer matmul.
    The operands themselves may exceed ``M/2``: they are reduced modulo each
    ``m_j``, as a binary-to-residue converter does.
    """
    if reverse not in REVERSE_CONVERSIONS:
        raise ArithValueError(f"reverse conversion {reverse!r} unknown; use 'crt' or 'mrc'")
    moduli = validate_moduli(moduli)
    x = _int64_array(x_int, "x")
    w = _int64_array(w_int, "w")
    if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[0]:
        raise ArithValueError(f"rns_matmul shapes x {x.shape} and w {w.shape} do not fit (batch, n_in) @ (n_in, n_out)")
    # worst case per output: sum_i max_b|x[b, i]| * |w[i, o]|, in exact Python ints
    if x.shape[0]:
        max_x = np.maximum(-x.min(axis=0).astype(object), x.max(axis=0).astype(object))
    else:
        max_x = np.zeros(x.shape[1], dtype=object)
    w_abs = np.maximum(-w.astype(object), w.astype(object))
    bound = w_abs.T.dot(max_x) if w.size else np.zeros(1, dtype=object)
    check_range(moduli, int(max(bound, default=0)))
    # operands are reduced modulo each m_j directly: only the accumulator has to fit in M
    x_res, w_res = (np.stack([np.mod(v, np.int64(m)) for m in moduli]) for v in (x, w))
    y_res, _ = modular_dot(x_res, w_res, moduli)
    return from_residues_crt(y_res, moduli) if reverse == "crt" else from_residues_mrc(y_res, moduli)


# --------------------------------------------------------------------------- hardware model (division-free)
#
# Step functions that model the residue data path of templates/nnet_utils/nnet_rns.h exactly: the same
# reduction method for each (modulus, bound), the same chunk folds, Barrett quotients on the same bit widths,
# the same compare-and-subtract chains.  Every intermediate is checked against the bound the C++ types are
# sized for, so a bound that the header documents but that does not hold raises here (RuntimeError).
#
# Constants (reduction plans, Barrett factors, CRT and mixed-radix tables) come from the cached helpers
# reduce_plan, crt_constants and mrc_constants, which may use % and //.  The functions in
# DATA_PATH_FUNCTIONS, which touch data, use shifts, masks, +, -, *, comparisons and np.where only
# (tests/test_rns_hw.py checks their source).  Values are int64 arrays, or object arrays of Python ints where
# a bound passes 2**63 - 1 (64-bit input patterns, wide Barrett products, CRT sums of n_mod * M).

MAX_HW_MODULUS = 2**31 + 1  # largest modulus of the hardware primitives: a residue product fits 64 bits
MAX_BARRETT_MODULUS = 2**31 - 1  # Barrett reduction (generic moduli) needs M < 2**31
MAX_HW_INPUT = 2**64 - 1  # widest value a reduction takes: 64 bits
MODULUS_KINDS = ("pow2", "low", "high", "generic")
REDUCE_METHODS = ("none", "mask", "subtract", "fold_low", "fold_high", "high_final", "barrett", "prefold")


class ModulusKind(NamedTuple):
    """How a modulus reduces in hardware (C++ ``modulus<M>``)."""

    kind: str  # 'pow2' (m = 2**n), 'low' (2**n - 1), 'high' (2**n + 1) or 'generic'
    n: int  # chunk width in bits: the n above; the bits of m for generic moduli
    width: int  # bits of a residue (of m - 1): n, or n + 1 for 'high'


class ReduceStep(NamedTuple):
    """One step of a reduction (C++ ``reducer<M, B, GENERIC, METHOD>``): it takes values in
    ``[0, bound_in]`` and returns values in ``[0, bound]``; the last step's ``bound`` is ``m - 1``."""

    method: str  # one of REDUCE_METHODS
    bound_in: int
    bound: int
    params: tuple  # method constants: see reduce_plan


def _check_hw_modulus(m, limit: int = MAX_HW_MODULUS) -> int:
    if isinstance(m, (bool, np.bool_)) or not isinstance(m, (int, np.integer)) or not 2 <= m <= limit:
        raise ArithValueError(f"modulus {m!r} must be an integer in [2, {limit}] for the hardware RNS primitives")
    return int(m)


def _check_bound(xmax) -> int:
    if isinstance(xmax, (bool, np.bool_)) or not isinstance(xmax, (int, np.integer)) or not 0 <= xmax <= MAX_HW_INPUT:
        raise ArithValueError(f"bound {xmax!r} must be an integer in [0, 2**64 - 1]")
    return int(xmax)


def modulus_kind(m: int) -> ModulusKind:
    """Kind, chunk width and residue width of modulus ``m`` in ``[2, 2**31 + 1]`` (C++ ``modulus<M>``).

    ``2**n`` is 'pow2', ``2**n - 1`` (n >= 2) 'low', ``2**n + 1`` (n >= 2) 'high', checked in that order
    (3 = 2**2 - 1 is 'low'); anything else is 'generic'.
    """
    m = _check_hw_modulus(m)
    width = (m - 1).bit_length()
    if m & (m - 1) == 0:
        return ModulusKind("pow2", width, width)
    if m >= 3 and (m + 1) & m == 0:
        return ModulusKind("low", width, width)
    if m >= 5 and (m - 1) & (m - 2) == 0:
        return ModulusKind("high", width - 1, width)
    return ModulusKind("generic", width, width)


def _chunk_count(bound: int, n: int) -> int:
    return (bound.bit_length() + n - 1) // n


def _chunk_max(bound: int, n: int, j: int, count: int) -> int:
    """Largest n-bit chunk j of a value <= bound: the full mask below the top chunk."""
    return (1 << n) - 1 if j < count - 1 else bound >> (n * j)


def _method(m: int, bound: int, generic: bool) -> str:
    """C++ ``special_method`` / ``generic_method``."""
    kind = modulus_kind(m)
    if bound < m:
        return "none"
    if not generic and kind.kind == "pow2":
        return "mask"
    if bound < 2 * m:
        return "subtract"
    if generic or kind.kind == "generic":
        return "barrett" if bound.bit_length() <= 2 * m.bit_length() else "prefold"
    if kind.kind == "low":
        return "fold_low"
    return "high_final" if bound >> kind.n <= m else "fold_high"


@lru_cache(maxsize=None)
def reduce_plan(m: int, xmax: int, generic: bool = False) -> tuple[ReduceStep, ...]:
    """The steps that reduce a value in ``[0, xmax]`` modulo ``m``, with their bounds and constants.

    ``generic=False`` picks the method of m's kind (C++ ``reduce_bounded<M, XMAX>``), ``generic=True``
    pre-fold and Barrett whatever the kind (C++ ``barrett_reduce<M, XMAX>``, ``m < 2**31``).  Params:
    mask ``(n,)``; subtract ``()``; fold_low ``(n, chunks)``; fold_high ``(n, chunks, offset)`` with offset
    the smallest multiple of m >= the largest odd-chunk sum; high_final ``(n,)``; barrett ``(k, w, mu)`` with
    k = bits of m, w = bits of the bound, mu = floor(2**w / m); prefold ``(k, chunks, weights)`` with
    weights[j] = 2**(j k) mod m.  Every fold must shrink the bound (the C++ static_asserts it).
    """
    m = _check_hw_modulus(m, MAX_BARRETT_MODULUS if generic else MAX_HW_MODULUS)
    bound = _check_bound(xmax)
    kind = modulus_kind(m)
    steps: list[ReduceStep] = []
    while True:
        method = _method(m, bound, generic)
        if method in ("none", "mask", "subtract", "high_final"):
            params = (kind.n,) if method in ("mask", "high_final") else ()
            steps.append(ReduceStep(method, bound, min(bound, m - 1), params))
            return tuple(steps)
        if method == "barrett":
            k, w = m.bit_length(), bound.bit_length()
            if w > 2 * k or w > 62:
                raise RuntimeError(f"Barrett step for m={m} on {w} bits")
            steps.append(ReduceStep(method, bound, m - 1, (k, w, (1 << w) // m)))
            return tuple(steps)
        if method == "fold_low":
            c = _chunk_count(bound, kind.n)
            params = (kind.n, c)
            new = sum(_chunk_max(bound, kind.n, j, c) for j in range(c))
        elif method == "fold_high":
            c = _chunk_count(bound, kind.n)
            even = sum(_chunk_max(bound, kind.n, j, c) for j in range(0, c, 2))
            odd = sum(_chunk_max(bound, kind.n, j, c) for j in range(1, c, 2))
            offset = (odd + m - 1) // m * m
            params = (kind.n, c, offset)
            new = even + offset
        else:  # prefold
            k = m.bit_length()
            c = _chunk_count(bound, k)
            weights = tuple(pow(2, j * k, m) for j in range(c))
            params = (k, c, weights)
            new = sum(_chunk_max(bound, k, j, c) * weights[j] for j in range(c))
        if new >= bound:
            raise RuntimeError(f"{method} for m={m} does not shrink the bound {bound} (gives {new})")
        steps.append(ReduceStep(method, bound, new, params))
        bound = new


def _fit(v: np.ndarray, bound: int) -> np.ndarray:
    """``v`` (values in [0, bound] or signed values of that size) as int64 if ``bound`` fits, else as Python ints."""
    if bound <= _INT64_MAX:
        return v if v.dtype == np.int64 else v.astype(np.int64)
    return v if v.dtype == object else v.astype(object)


def _within(v: np.ndarray, lo: int, hi: int, what: str) -> None:
    """Internal invariant of the model: every value of ``v`` in [lo, hi]."""
    if v.size and (bool(np.any(v < lo)) or bool(np.any(v > hi))):
        idx = first_index(np.asarray((v < lo) | (v > hi), dtype=bool))
        raise RuntimeError(f"{what}: value {v[idx]} at index {idx} is outside [{lo}, {hi}]")


def _unsigned_input(x, xmax: int, what: str) -> np.ndarray:
    """``x`` as an array of integers in [0, xmax] (int64, or Python ints when xmax passes int64)."""
    a = np.asarray(x)
    if a.dtype.kind == "O":
        flat = a.ravel()
        for k, v in enumerate(flat):
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
                raise ArithValueError(f"{what} value {v!r} at index {k} is not an integer")
        a = np.array([int(v) for v in flat], dtype=object).reshape(a.shape)
    elif a.dtype.kind == "u":
        a = a.astype(object) if a.dtype.itemsize == 8 else a.astype(np.int64)
    elif a.dtype.kind == "i":
        a = a.astype(np.int64, copy=False)
    else:
        raise ArithValueError(f"{what} must hold integers, got dtype {a.dtype}")
    if a.size:
        bad = np.asarray((a < 0) | (a > xmax), dtype=bool)
        idx = first_index(bad)
        if idx is not None:
            raise ArithValueError(f"{what} value {a[idx]} at index {idx} is not in [0, {xmax}]")
    return _fit(a, xmax)


def _apply_step(v: np.ndarray, step: ReduceStep, m: int) -> np.ndarray:
    """One reduction step on values in [0, step.bound_in]; the result is checked to lie in [0, step.bound]."""
    method, params = step.method, step.params
    if method == "none":
        out = v
    elif method == "mask":  # 2**n: truncation
        out = v & ((1 << params[0]) - 1)
    elif method == "subtract":  # bound < 2m: one conditional subtract
        out = np.where(v >= m, v - m, v)
    elif method == "fold_low":  # 2**n - 1: sum of the n-bit chunks
        n, c = params
        out = _fit(np.zeros(v.shape, dtype=np.int64), step.bound)
        for j in range(c):
            out = out + ((v >> (j * n)) & ((1 << n) - 1))
    elif method == "fold_high":  # 2**n + 1: even chunks + offset - odd chunks
        n, c, offset = params
        even = _fit(np.zeros(v.shape, dtype=np.int64), step.bound)
        odd = _fit(np.zeros(v.shape, dtype=np.int64), step.bound)
        for j in range(0, c, 2):
            even = even + ((v >> (j * n)) & ((1 << n) - 1))
        for j in range(1, c, 2):
            odd = odd + ((v >> (j * n)) & ((1 << n) - 1))
        out = even + (offset - odd)
    elif method == "high_final":  # x = h 2**n + l with h <= m: l - h, plus m when negative
        n = params[0]
        low, high = v & ((1 << n) - 1), v >> n
        _within(high, 0, m, "high chunk of the final 2**n+1 step")
        out = np.where(low >= high, low - high, low + (m - high))
    elif method == "barrett":  # q1 = x >> (k-1), q = q1 mu >> (w-k+1), r = x - q m on k+2 bits
        k, w, mu = params
        q1 = v >> (k - 1)
        q = (_fit(q1, (step.bound_in >> (k - 1)) * mu) * mu) >> (w - k + 1)
        r_mask = (1 << (k + 2)) - 1
        wide = _fit((v & r_mask) - _fit(q & r_mask, r_mask) * m, r_mask * m)
        r = _fit(wide & r_mask, r_mask)
        _within(r, 0, 3 * m - 1, f"Barrett remainder for m={m}")  # q is floor(x/m) - 0, 1 or 2
        r = np.where(r >= m, r - m, r)
        out = np.where(r >= m, r - m, r)
    elif method == "prefold":  # sum of k-bit chunk_j * (2**(j k) mod m)
        k, c, weights = params
        out = _fit(np.zeros(v.shape, dtype=np.int64), step.bound)
        for j in range(c):
            out = out + ((v >> (j * k)) & ((1 << k) - 1)) * weights[j]
    else:  # pragma: no cover - reduce_plan only makes the methods above
        raise RuntimeError(f"unknown reduction step {method!r}")
    out = _fit(np.asarray(out), step.bound)
    _within(out, 0, step.bound, f"{method} step for m={m}")
    return out


def _reduce(x, m: int, xmax: int, generic: bool) -> np.ndarray:
    plan = reduce_plan(m, xmax, generic)
    v = _unsigned_input(x, plan[0].bound_in, "reduction input")
    for step in plan:
        v = _apply_step(v, step, m)
    return v.astype(np.int64)


def reduce_bounded(x, m: int, xmax: int) -> np.ndarray:
    """``x mod m`` for integers ``x`` in ``[0, xmax]`` (``xmax < 2**64``) by the method of m's kind.

    Models C++ ``reduce_bounded<M, XMAX>`` (and ``reduce<M, W>`` for ``xmax = 2**W - 1``): truncation for
    ``2**n``; chunk folds for ``2**n - 1`` and ``2**n + 1``; pre-fold and Barrett for generic moduli.
    Returns int64 residues in ``[0, m)``.
    """
    return _reduce(x, m, xmax, False)


def reduce_chunks(x, m: int, xmax: int) -> np.ndarray:
    """``x mod m`` by chunk folding, for the special kinds ``2**n``, ``2**n - 1`` and ``2**n + 1`` only."""
    if modulus_kind(m).kind == "generic":
        raise ArithValueError(f"modulus {m} is not 2**n, 2**n - 1 or 2**n + 1; reduce it with barrett_reduce")
    return _reduce(x, m, xmax, False)


def barrett_reduce(x, m: int, xmax: int) -> np.ndarray:
    """``x mod m`` for ``x`` in ``[0, xmax]`` by pre-fold and Barrett whatever m's kind (``m < 2**31``).

    Models C++ ``barrett_reduce<M, XMAX>``: while ``xmax`` has more than 2k bits (k = bits of m), the k-bit
    chunks are summed with weights ``2**(j k) mod m``; then ``q = ((x >> (k-1)) * mu) >> (w-k+1)`` with
    ``mu = floor(2**w / m)``, ``r = x - q m`` on k+2 bits, and two conditional subtracts.
    """
    return _reduce(x, m, xmax, True)


def _residue_input(a, m: int, what: str) -> np.ndarray:
    return _unsigned_input(a, m - 1, what)


def mod_add(a, b, m: int) -> np.ndarray:
    """``(a + b) mod m`` for residues in ``[0, m)``: one add, one conditional subtract (truncation for 2**n)."""
    m = _check_hw_modulus(m)
    a, b = _residue_input(a, m, "mod_add operand"), _residue_input(b, m, "mod_add operand")
    return reduce_bounded(a + b, m, 2 * (m - 1))


def mod_sub(a, b, m: int) -> np.ndarray:
    """``(a - b) mod m`` for residues in ``[0, m)``: ``a - b`` if ``a >= b`` else ``a + (m - b)``."""
    m = _check_hw_modulus(m)
    a, b = _residue_input(a, m, "mod_sub operand"), _residue_input(b, m, "mod_sub operand")
    return np.where(a >= b, a - b, a + (m - b)).astype(np.int64)


def mod_mul(a, b, m: int) -> np.ndarray:
    """``(a * b) mod m`` for residues in ``[0, m)``: the product (at most ``(m-1)**2 <= 2**62``), one reduction."""
    m = _check_hw_modulus(m)
    a, b = _residue_input(a, m, "mod_mul operand"), _residue_input(b, m, "mod_mul operand")
    return reduce_bounded(a * b, m, (m - 1) ** 2)


def mod_mac(acc, a, b, m: int) -> np.ndarray:
    """``(acc + a * b) mod m`` for residues in ``[0, m)``: at most ``m (m - 1)``, one reduction."""
    m = _check_hw_modulus(m)
    acc = _residue_input(acc, m, "mod_mac accumulator")
    a, b = _residue_input(a, m, "mod_mac operand"), _residue_input(b, m, "mod_mac operand")
    return reduce_bounded(acc + a * b, m, (m - 1) * m)


@lru_cache(maxsize=None)
def _sign_weight(width: int, m: int) -> int:
    """``2**width mod m``: the residue of the sign weight of a width-bit two's complement code."""
    return pow(2, width, m)


def to_residue_fold(codes, width: int, m: int) -> np.ndarray:
    """Residues ``codes mod m`` of signed ``width``-bit codes (``1 <= width <= 64``), as the hardware forms them.

    The unsigned width-bit pattern ``p`` (``p = code + 2**width`` for negative codes) is reduced by
    :func:`reduce_bounded` with bound ``2**width - 1``; when the sign bit is set, the constant
    ``2**width mod m`` is subtracted modularly.  Codes must lie in ``[-2**(width-1), 2**(width-1))``.
    Returns int64 residues in ``[0, m)``.
    """
    m = _check_hw_modulus(m)
    if isinstance(width, (bool, np.bool_)) or not isinstance(width, (int, np.integer)) or not 1 <= width <= 64:
        raise ArithValueError(f"code width {width!r} must be an integer in [1, 64]")
    width = int(width)
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    c = _int64_array(codes, "codes")
    bad = (c < lo) | (c > hi)
    idx = first_index(bad)
    if idx is not None:
        raise ArithValueError(f"code {int(c[idx])} at index {idx} is not a signed {width}-bit code [{lo}, {hi}]")
    pattern = _fit(c, (1 << width) - 1) & ((1 << width) - 1)
    r = reduce_bounded(pattern, m, (1 << width) - 1)
    negative = np.asarray((pattern >> (width - 1)) & 1, dtype=np.int64) == 1
    return np.where(negative, mod_sub(r, _sign_weight(width, m), m), r).astype(np.int64)


def _hw_base(moduli: Iterable[int]) -> tuple[tuple[int, ...], int]:
    moduli, big_m = _conversion_moduli(moduli)
    for m in moduli:
        _check_hw_modulus(m)
    return moduli, big_m


@lru_cache(maxsize=None)
def crt_constants(moduli: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(weights, inverses)`` of the CRT: ``M_j = M / m_j`` and ``|M_j**-1|_{m_j}`` (C++ ``at<J>::weight``,
    ``at<J>::inverse``)."""
    moduli, big_m = _hw_base(moduli)
    weights = tuple(big_m // m for m in moduli)
    return weights, tuple(pow(w, -1, m) for w, m in zip(weights, moduli))


@lru_cache(maxsize=None)
def mrc_constants(moduli: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
    """``c[i][j] = |m_i**-1|_{m_j}`` for ``i < j`` (0 elsewhere): C++ ``mrc_inverse<I, J>::value``."""
    moduli, _ = _hw_base(moduli)
    n = len(moduli)
    return tuple(tuple(pow(moduli[i], -1, moduli[j]) if i < j else 0 for j in range(n)) for i in range(n))


def crt_steps(n_mod: int) -> int:
    """Compare-and-subtract steps after the CRT sum (< n_mod M): bits of ``n_mod - 1`` (C++ ``crt_steps``)."""
    return (n_mod - 1).bit_length()


def _signed_hw(x: np.ndarray, big_m: int) -> np.ndarray:
    """Values in [0, M) read as signed: above (M - 1) / 2 they are ``-(M - x)``."""
    half = _half_range(big_m)
    return _fit(np.where(x > half, -(big_m - x), x), big_m)


def _half_range(big_m: int) -> int:
    """``(M - 1) // 2``, the largest value read as positive (C++ ``half_range``)."""
    return (big_m - 1) // 2


def crt_division_free(residues, moduli: Iterable[int]) -> np.ndarray:
    """Signed int64 values from residues by the CRT as the hardware computes it (C++ ``reverse_crt``).

    ``z_j = mod_mul(r_j, |M_j**-1|_{m_j})``, ``S = sum_j M_j z_j < n_mod M``; then for ``p = crt_steps - 1 .. 0``
    ``S -= 2**p M`` where ``S >= 2**p M`` (S ends in ``[0, M)``), and values above ``(M - 1) / 2`` become
    ``S - M``.  ``residues`` has the moduli on its leading axis; each modulus is at most ``2**31 + 1`` and
    ``M <= 2**62``.
    """
    moduli, big_m = _hw_base(moduli)
    res = _int64_array(residues, "residues")
    _check_residues(res, moduli, "residues")
    weights, inverses = crt_constants(moduli)
    sum_bound = sum(w * (m - 1) for w, m in zip(weights, moduli))  # < n_mod M
    s = _fit(np.zeros(res.shape[1:], dtype=np.int64), sum_bound)
    for j, m in enumerate(moduli):
        z = mod_mul(res[j], inverses[j], m)  # [0, m_j)
        s = s + _fit(z, sum_bound) * weights[j]  # each term < M
    for p in reversed(range(crt_steps(len(moduli)))):
        _within(s, 0, (big_m << (p + 1)) - 1, f"CRT sum before the 2**{p} M step")
        s = np.where(s >= big_m << p, s - (big_m << p), s)
    _within(s, 0, big_m - 1, "CRT result")
    return _signed_hw(s, big_m).astype(np.int64)


def mrc_division_free(residues, moduli: Iterable[int]) -> np.ndarray:
    """Signed int64 values from residues by mixed radix as the hardware computes it (C++ ``reverse_mrc``).

    Digits ``d_j``: starting from ``t = r_j``, for each earlier digit ``t = mod_mul(mod_sub(t, d_i mod m_j),
    |m_i**-1|_{m_j})`` (``d_i mod m_j`` by :func:`reduce_bounded` with bound ``m_i - 1``); then Horner
    ``X = d_0 + m_0 (d_1 + m_1 (...))`` (< M) and the signed reading of :func:`crt_division_free`.
    """
    moduli, big_m = _hw_base(moduli)
    res = _int64_array(residues, "residues")
    _check_residues(res, moduli, "residues")
    inv = mrc_constants(moduli)
    digits: list[np.ndarray] = []
    for j, m in enumerate(moduli):
        t = res[j]
        for i in range(j):
            d_i = reduce_bounded(digits[i], m, moduli[i] - 1)
            t = mod_mul(mod_sub(t, d_i, m), inv[i][j], m)
        digits.append(t)
    x = digits[-1]
    for j in range(len(moduli) - 2, -1, -1):
        x = x * moduli[j] + digits[j]  # < m_j m_{j+1} ... m_{r-1} <= M <= 2**62
    _within(x, 0, big_m - 1, "mixed-radix value")
    return _signed_hw(x, big_m).astype(np.int64)


# The functions that touch data: no %, // or / in them (constants come from reduce_plan, crt_constants,
# mrc_constants and _sign_weight).
DATA_PATH_FUNCTIONS = (_apply_step, _reduce, reduce_bounded, reduce_chunks, barrett_reduce, mod_add, mod_sub, mod_mul,
                       mod_mac, to_residue_fold, crt_division_free, mrc_division_free, _signed_hw, _fit, _within,
                       _unsigned_input)
