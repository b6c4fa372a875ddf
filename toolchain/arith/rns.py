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
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence

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
