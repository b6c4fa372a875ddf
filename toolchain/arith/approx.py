"""Bit-exact models of approximate 8x8 multipliers (MAx-DNN): ROUP and table multipliers.

**ROUP(k, m)** (project definition, see ``docs/arithmetic.md``): radix-4 Booth
multiplication of a signed activation ``A`` by a signed weight ``B`` in which
the ``k`` least-significant partial products are perforated (never generated)
and ``A`` is rounded at bit ``m`` before the partial products are formed::

    P = (floor(A / 2**m) + a_{m-1}) * 2**m  *  (floor(B / 4**k) + b_{2k-1}) * 4**k

with ``a_{-1} = b_{-1} = 0``.  :func:`booth_multiply` is the bit-level model
(Booth encoder, partial-product selection, perforation, two's complement
sum); :func:`roup` is the closed form; the tests prove them equal over all
65,536 signed 8-bit pairs for every valid ``(k, m)``.  Because
``ROUP(k, m)(a, b) = round_m(a) * round_k(b)`` factorises, a layer of ROUP
multipliers is an ordinary integer matmul of rounded operands.

**Table multipliers** (EvoApproxLib style): any 8x8 signed multiplier given as
a 256x256 integer table ``T`` with ``product(a, b) = T[a + 128, b + 128]``
(row = activation ``a`` in -128..127, column = weight ``b`` in -128..127).

**Granularity.** :func:`approx_matmul` and :func:`approx_conv2d` accept one
multiplier for the whole layer, one per output channel (filter), or one per
(output, input) channel pair (kernel), see :func:`kernel_assignment`.

All operands are signed 8-bit integer codes (-128..127); results are int64.
"""
from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from toolchain.arith.checks import first_index, require_in_range, require_integer_valued
from toolchain.atomic import atomic_file
from toolchain.errors import ArithValueError

BITS = 8  # operand width of ROUPMultiplier, TableMultiplier and the matmul/conv models
A_MIN, A_MAX = -(1 << (BITS - 1)), (1 << (BITS - 1)) - 1  # -128, 127
TABLE_SIZE = 1 << BITS  # 256 rows (activations) x 256 columns (weights)
RAW_DTYPE = np.dtype("<i2")  # raw table element: little-endian int16
RAW_NBYTES = TABLE_SIZE * TABLE_SIZE * RAW_DTYPE.itemsize  # 131,072 bytes
_GATHER_CHUNK = 1 << 22  # elements per gathered (rows, n_in, n_out) block (~32 MiB int64)


# --------------------------------------------------------------------------- validation helpers

def _check_bits(bits: Any) -> int:
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not (2 <= bits <= 16 and bits % 2 == 0):
        raise ArithValueError(f"operand width bits={bits!r} must be an even integer in 2..16 (radix-4 Booth)")
    return int(bits)


def _check_int_param(value: Any, name: str, hi: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ArithValueError(f"ROUP parameter {name}={value!r} must be an integer ({what})")
    if not 0 <= value <= hi:
        raise ArithValueError(f"ROUP parameter {name}={value!r} out of range 0..{hi} ({what})")
    return int(value)


def _check_km(k: Any, m: Any, bits: int) -> tuple[int, int]:
    """Validate ROUP parameters: ``k`` in 0..bits/2-1 (at least one partial product kept), ``m`` in 0..bits-1."""
    k = _check_int_param(k, "k", bits // 2 - 1,
                         f"perforated partial products; a {bits}-bit Booth multiplier has {bits // 2}")
    m = _check_int_param(m, "m", bits - 1, f"rounding bit of the {bits}-bit activation")
    return k, m


def _as_codes(x: Any, what: str, bits: int = BITS, layout: str | None = None) -> np.ndarray:
    """``x`` as int64 signed ``bits``-bit codes; bool, non-integral or out-of-range values raise.

    ``layout`` (e.g. ``"(batch, n_in)"``) also requires that many dimensions.
    """
    arr = np.asarray(x)
    if layout is not None and arr.ndim != layout.count(",") + 1:
        raise ArithValueError(f"{what} has shape {arr.shape}; expected {layout}")
    if arr.dtype == np.bool_ or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ArithValueError(f"{what} has dtype {arr.dtype}; expected signed {bits}-bit integer codes")
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if np.issubdtype(arr.dtype, np.floating):
        require_integer_valued(arr, lo, hi, what)
    else:
        require_in_range(arr, lo, hi, what, f"integers in {lo}..{hi}")
    return arr.astype(np.int64)


def _round_at(v: np.ndarray, s: np.ndarray | int) -> np.ndarray:
    """``(floor(v / 2**s) + v_{s-1}) * 2**s`` (round half up at bit ``s``; identity for ``s == 0``).

    ``s`` may be an array broadcast against ``v``; arithmetic shifts, so ``floor`` for negatives.
    """
    s = np.asarray(s, dtype=np.int64)
    below = np.where(s > 0, (v >> np.maximum(s - 1, 0)) & 1, 0)  # the bit below the cut
    return ((v >> s) + below) << s


# --------------------------------------------------------------------------- ROUP: bit level and closed form

def booth_multiply(a: Any, b: Any, k: int = 0, m: int = 0, *, bits: int = BITS) -> np.ndarray:
    """Bit-level radix-4 Booth product of activation ``a`` and weight ``b`` (signed ``bits``-bit codes).

    Models the datapath, vectorised over broadcast ``a``, ``b``:

    1. *Rounding*: ``a' = ((a >> m) + a_{m-1}) << m`` (add the bit below the cut; ``a'`` needs
       ``bits + 1`` bits since ``127`` may round to ``128``).
    2. *Booth encoder*: for ``i = 0..bits/2-1`` the triplet ``(b_{2i+1}, b_{2i}, b_{2i-1})`` with
       ``b_{-1} = 0`` gives the select lines ``one = b_{2i} ^ b_{2i-1}``,
       ``two = (b_{2i+1} & ~b_{2i} & ~b_{2i-1}) | (~b_{2i+1} & b_{2i} & b_{2i-1})``,
       ``neg = b_{2i+1}``; the digit is ``-2 b_{2i+1} + b_{2i} + b_{2i-1}`` in ``{-2..2}``.
    3. *Partial products* ``i >= k`` (the ``k`` least-significant ones are perforated): select
       ``0``, ``a'`` or ``a' << 1``, invert every bit when ``neg`` (ones' complement in a
       ``2*bits``-bit word), and inject ``neg`` at bit ``2i`` as the +1 of the two's complement.
    4. *Sum* the words shifted by ``2i`` modulo ``2**(2*bits)``; read the result as signed.

    With ``k = m = 0`` this is the exact product ``a * b``.  Returns int64.
    """
    bits = _check_bits(bits)
    k, m = _check_km(k, m, bits)
    a = _as_codes(a, "booth_multiply activation a", bits)
    b = _as_codes(b, "booth_multiply weight b", bits)
    a, b = np.broadcast_arrays(a, b)
    width = 2 * bits  # product word; |a' * b| <= 2**(2*bits - 2) always fits signed
    mask = np.int64((1 << width) - 1)

    a_r = _round_at(a, m)

    def bit(v: np.ndarray, j: int) -> np.ndarray:
        return (v >> j) & 1 if j >= 0 else np.zeros_like(v)

    acc = np.zeros(a.shape, dtype=np.int64)
    for i in range(k, bits // 2):
        hi, mid, lo = bit(b, 2 * i + 1), bit(b, 2 * i), bit(b, 2 * i - 1)
        one = mid ^ lo
        two = (hi & (1 - mid) & (1 - lo)) | ((1 - hi) & mid & lo)
        neg = hi
        sel = np.where(one == 1, a_r, np.where(two == 1, a_r << 1, 0)) & mask
        word = (sel ^ (-neg & mask)) & mask  # conditional ones' complement
        acc = (acc + (word << (2 * i)) + (neg << (2 * i))) & mask
    return np.where(acc >> (width - 1) == 1, acc - (mask + 1), acc)


def roup_round_a(a: Any, m: int, *, bits: int = BITS) -> np.ndarray:
    """Activation rounded at bit ``m``: ``(floor(a / 2**m) + a_{m-1}) * 2**m`` (int64, may reach ``2**(bits-1)``)."""
    bits = _check_bits(bits)
    m = _check_int_param(m, "m", bits - 1, f"rounding bit of the {bits}-bit activation")
    return _round_at(_as_codes(a, "ROUP activation a", bits), m)


def roup_round_b(b: Any, k: int, *, bits: int = BITS) -> np.ndarray:
    """Weight as seen after perforating ``k`` partial products: ``(floor(b / 4**k) + b_{2k-1}) * 4**k`` (int64)."""
    bits = _check_bits(bits)
    k = _check_int_param(k, "k", bits // 2 - 1,
                         f"perforated partial products; a {bits}-bit Booth multiplier has {bits // 2}")
    return _round_at(_as_codes(b, "ROUP weight b", bits), 2 * k)


def roup(a: Any, b: Any, k: int, m: int, *, bits: int = BITS) -> np.ndarray:
    """Closed form of ROUP(k, m): ``(floor(A/2**m) + a_{m-1}) 2**m * (floor(B/4**k) + b_{2k-1}) 4**k`` (int64)."""
    bits = _check_bits(bits)
    k, m = _check_km(k, m, bits)
    return roup_round_a(a, m, bits=bits) * roup_round_b(b, k, bits=bits)


def valid_roup_params(bits: int = BITS) -> list[tuple[int, int]]:
    """Every valid ``(k, m)``: ``k`` in ``0..bits/2-1`` (at least one partial product kept), ``m`` in ``0..bits-1``.

    ``k = bits/2`` or ``m = bits`` would make every product 0, so they are refused.
    """
    bits = _check_bits(bits)
    return [(k, m) for k in range(bits // 2) for m in range(bits)]


# --------------------------------------------------------------------------- multipliers

class Multiplier(ABC):
    """An 8x8 signed multiplier: ``mult(a, b)`` for int codes in -128..127 gives int64 products."""

    name: str

    @abstractmethod
    def __call__(self, a: Any, b: Any) -> np.ndarray:
        """Products of broadcast ``a`` (activations) and ``b`` (weights), int64."""

    @property
    def table(self) -> np.ndarray:
        """The 256x256 int64 table ``T[a + 128, b + 128]`` of this multiplier."""
        grid = np.arange(A_MIN, A_MAX + 1, dtype=np.int64)
        return np.asarray(self(grid[:, None], grid[None, :]), dtype=np.int64)


@dataclass(frozen=True)
class ROUPMultiplier(Multiplier):
    """ROUP(k, m), evaluated by its closed form (no table needed); ``ROUPMultiplier(0, 0)`` is exact."""

    k: int
    m: int
    name: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        k, m = _check_km(self.k, self.m, BITS)
        object.__setattr__(self, "k", k)
        object.__setattr__(self, "m", m)
        if not self.name:
            object.__setattr__(self, "name", f"roup_k{k}_m{m}")

    def __call__(self, a: Any, b: Any) -> np.ndarray:
        return roup(a, b, self.k, self.m)

    def round_a(self, a: Any) -> np.ndarray:
        """Rounded activations; ``self(a, b) == self.round_a(a) * self.round_b(b)``."""
        return roup_round_a(a, self.m)

    def round_b(self, b: Any) -> np.ndarray:
        """Perforation-equivalent weights; see :meth:`round_a`."""
        return roup_round_b(b, self.k)


def _check_table(table: Any, what: str) -> np.ndarray:
    """A read-only int64 (256, 256) copy of ``table``; bad shape, dtype or values raise naming ``what``."""
    arr = np.asarray(table)
    if arr.shape != (TABLE_SIZE, TABLE_SIZE):
        raise ArithValueError(f"{what} has shape {arr.shape}; expected ({TABLE_SIZE}, {TABLE_SIZE}) "
                              f"indexed [a + 128, b + 128]")
    if arr.dtype == np.bool_ or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ArithValueError(f"{what} has dtype {arr.dtype}; expected integer products")
    if np.issubdtype(arr.dtype, np.floating):
        bad = ~np.isfinite(arr) | (arr != np.floor(arr)) | (np.abs(arr) >= 2.0 ** 62)
    elif arr.dtype == np.uint64:
        bad = arr >= np.uint64(1 << 62)
    else:
        bad = np.zeros(arr.shape, dtype=bool)
    first = first_index(bad)
    if first is not None:
        i, j = first
        raise ArithValueError(f"{what} entry [{i}, {j}] (a={i + A_MIN}, b={j + A_MIN}) is {arr[i, j]!r}; "
                              f"expected an integer product of magnitude below 2**62")
    out = arr.astype(np.int64)  # always a copy
    out.setflags(write=False)
    return out


class TableMultiplier(Multiplier):
    """An 8x8 signed multiplier given as a 256x256 table ``T`` with ``product(a, b) = T[a + 128, b + 128]``.

    Row index = activation ``a + 128`` (a in -128..127), column index = weight ``b + 128``.
    The table is copied to a read-only int64 array.  Hashing and equality are by identity.
    """

    def __init__(self, table: Any, name: str = "table") -> None:
        self.name = str(name)
        self._table = _check_table(table, f"multiplier table {self.name!r}")

    @property
    def table(self) -> np.ndarray:
        return self._table

    def __call__(self, a: Any, b: Any) -> np.ndarray:
        ai = _as_codes(a, f"activation a of multiplier {self.name!r}")
        bi = _as_codes(b, f"weight b of multiplier {self.name!r}")
        return self._table[ai - A_MIN, bi - A_MIN]

    def __repr__(self) -> str:
        return f"TableMultiplier(name={self.name!r})"


def exact_table() -> TableMultiplier:
    """The exact product ``a * b`` as a table multiplier named ``"exact"``."""
    grid = np.arange(A_MIN, A_MAX + 1, dtype=np.int64)
    return TableMultiplier(grid[:, None] * grid[None, :], name="exact")


def roup_table(k: int, m: int) -> TableMultiplier:
    """ROUP(k, m) tabulated from its closed form, named ``roup_k{k}_m{m}``."""
    mult = ROUPMultiplier(k, m)
    return TableMultiplier(mult.table, name=mult.name)


def load_table(path: str | os.PathLike) -> TableMultiplier:
    """Load a table multiplier from ``path`` (named after the file stem).

    * ``.npy``: a NumPy (256, 256) integer array (or integral floats) indexed ``[a + 128, b + 128]``;
      loaded with ``allow_pickle=False``.
    * any other suffix: the raw EvoApproxLib-style binary layout, exactly 131,072 bytes =
      65,536 little-endian signed int16 products, row-major over signed ``a`` then signed
      ``b``, both ascending from -128 to 127; the product of ``(a, b)`` is at byte offset
      ``2 * ((a + 128) * 256 + (b + 128))``.
    """
    p = Path(path)
    if not p.is_file():
        raise ArithValueError(f"multiplier table file {str(p)!r} does not exist or is not a file")
    if p.suffix.lower() == ".npy":
        try:
            arr = np.load(p, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise ArithValueError(f"multiplier table file {str(p)!r} is not a readable .npy array: {exc}") from None
        return TableMultiplier(_check_table(arr, f"multiplier table file {str(p)!r}"), name=p.stem)
    size = p.stat().st_size
    if size != RAW_NBYTES:
        raise ArithValueError(f"raw multiplier table file {str(p)!r} has {size} bytes; expected {RAW_NBYTES} "
                              f"(65536 little-endian int16 products, row-major [a+128, b+128])")
    arr = np.fromfile(p, dtype=RAW_DTYPE).reshape(TABLE_SIZE, TABLE_SIZE)
    return TableMultiplier(arr, name=p.stem)


def save_table(table: Multiplier | Any, path: str | os.PathLike) -> Path:
    """Write a multiplier's table (or a 256x256 array) to ``path``; ``.npy`` or raw by suffix, see :func:`load_table`.

    Raw files need every product in the int16 range.  The file is written to a temporary name in
    the same directory and renamed, so a failure leaves nothing half-written.  Returns the path.
    """
    p = Path(path)
    what = f"table of multiplier {table.name!r}" if isinstance(table, Multiplier) else "table passed to save_table"
    arr = _check_table(table.table if isinstance(table, Multiplier) else table, what)
    if not p.parent.is_dir():
        raise ArithValueError(f"cannot save multiplier table to {str(p)!r}: directory {str(p.parent)!r} does not exist")
    raw = p.suffix.lower() != ".npy"
    if raw:
        info = np.iinfo(RAW_DTYPE)
        first = first_index((arr < info.min) | (arr > info.max))
        if first is not None:
            i, j = first
            raise ArithValueError(f"cannot save {str(p)!r} as a raw int16 table: entry [{i}, {j}] "
                                  f"(a={i + A_MIN}, b={j + A_MIN}) is {int(arr[i, j])}; use a .npy file")
    with atomic_file(p, "wb") as fh:
        if raw:
            fh.write(np.ascontiguousarray(arr, dtype=RAW_DTYPE).tobytes())
        else:
            np.save(fh, np.asarray(arr, dtype=np.int64), allow_pickle=False)
    return p


def integer_bits_for(max_abs: float) -> int:
    """Smallest ap_fixed integer bits ``I`` (sign included) with ``max_abs < 2**(I-1)``, at least -16: the 8-bit
    operand type ``ap_fixed<8, I>`` of values up to ``max_abs`` (1 for 0 or a non-finite value)."""
    if not np.isfinite(max_abs) or max_abs <= 0:
        return 1
    i = 1
    while max_abs >= 2.0 ** (i - 1):
        i += 1
    while i > -16 and max_abs < 2.0 ** (i - 2):
        i -= 1
    return i


# --------------------------------------------------------------------------- spec strings

_ROUP_SPEC = re.compile(r"^roup\s*\(\s*(-?\d+)\s*,\s*(-?\d+)\s*\)$|^roup:(-?\d+):(-?\d+)$")
_ROUP_TABLE_SPEC = re.compile(r"^roup_table:(-?\d+):(-?\d+)$")
SPEC_HELP = "'exact', 'roup(K,M)' (or 'roup:K:M'), 'roup_table:K:M' or 'table:FILE' (.npy or raw int16)"


def multiplier_from_spec(spec: Any, base_dir: str | os.PathLike | None = None) -> Multiplier:
    """The multiplier a spec string names (a :class:`Multiplier` is returned as is).

    Specs: ``exact`` (ROUP(0, 0), named ``exact``); ``roup(K,M)`` or ``roup:K:M`` (closed form);
    ``roup_table:K:M`` (the same ROUP through its 256x256 table); ``table:FILE`` (:func:`load_table`;
    a relative FILE is looked up in ``base_dir`` when given, e.g. the directory of the config naming it).
    ArithValueError names the spec and what it accepts.
    """
    if isinstance(spec, Multiplier):
        return spec
    if not isinstance(spec, str):
        raise ArithValueError(f"multiplier {spec!r} is not a spec string; use {SPEC_HELP}")
    text = spec.strip()
    try:
        if text.lower() == "exact":
            return ROUPMultiplier(0, 0, name="exact")
        match = _ROUP_SPEC.match(text.lower())
        if match:
            k, m = (int(v) for v in (match.group(1, 2) if match.group(1) is not None else match.group(3, 4)))
            return ROUPMultiplier(k, m)
        match = _ROUP_TABLE_SPEC.match(text.lower())
        if match:
            return roup_table(int(match.group(1)), int(match.group(2)))
        if text.lower().startswith("table:"):
            path = Path(text[len("table:"):].strip()).expanduser()
            if base_dir is not None and not path.is_absolute():
                path = Path(base_dir) / path
            return load_table(path)
    except ArithValueError as exc:
        raise ArithValueError(f"multiplier {text!r}: {exc}") from None
    raise ArithValueError(f"multiplier {text!r} not understood; use {SPEC_HELP}")


def multiplier_spec(mult: Multiplier) -> str:
    """The spec string of a ROUP multiplier (``exact`` for ROUP(0, 0)), or ``table:NAME`` for a table one."""
    if isinstance(mult, ROUPMultiplier):
        return "exact" if (mult.k, mult.m) == (0, 0) else f"roup({mult.k},{mult.m})"
    return f"table:{mult.name}"


# --------------------------------------------------------------------------- assignment (granularity)

@dataclass(frozen=True)
class Assignment:
    """Which multiplier computes each product: ``multipliers[index[o, i]]`` for output ``o``, input ``i``.

    ``index`` is an int array of shape ``()`` (layer), ``(n_out,)`` (filter) or ``(n_out, n_in)``
    (kernel) granularity; :func:`kernel_assignment` expands it to ``(n_out, n_in)``.
    """

    multipliers: tuple[Multiplier, ...]
    index: np.ndarray


def kernel_assignment(mult: Any, n_out: int, n_in: int) -> Assignment:
    """Normalise ``mult`` to an :class:`Assignment` with an ``(n_out, n_in)`` index of distinct multipliers.

    ``mult`` is one :class:`Multiplier` (layer), a sequence / 1-D object array of ``n_out`` of them
    (filter), a nested sequence / 2-D object array of shape ``(n_out, n_in)`` (kernel), or an
    :class:`Assignment`.
    """
    if isinstance(mult, Assignment):
        mults, idx = _checked_assignment(mult)
    elif isinstance(mult, Multiplier):
        mults, idx = (mult,), np.zeros((), dtype=np.int64)
    elif isinstance(mult, (Sequence, np.ndarray)) and not isinstance(mult, (str, bytes)):
        mults, idx = _indexed_multipliers(mult, n_out, n_in)
    else:
        raise ArithValueError(f"multiplier {mult!r} is not a Multiplier, a sequence of them, or an Assignment")
    if idx.shape == ():
        idx = np.full((n_out, n_in), int(idx), dtype=np.int64)
    elif idx.shape == (n_out,):
        idx = np.repeat(idx.astype(np.int64)[:, None], n_in, axis=1)
    elif idx.shape != (n_out, n_in):
        raise ArithValueError(f"multiplier assignment has shape {idx.shape}; expected () (layer), "
                              f"({n_out},) (filter: one per output channel) or ({n_out}, {n_in}) (kernel)")
    return Assignment(mults, idx.astype(np.int64))


def _checked_assignment(mult: Assignment) -> tuple[tuple[Multiplier, ...], np.ndarray]:
    """The multipliers and index of an :class:`Assignment`, checked."""
    mults = tuple(mult.multipliers)
    for j, mu in enumerate(mults):
        if not isinstance(mu, Multiplier):
            raise ArithValueError(f"Assignment.multipliers[{j}] is {type(mu).__name__}, not a Multiplier")
    idx = np.asarray(mult.index)
    if idx.dtype == np.bool_ or not np.issubdtype(idx.dtype, np.integer):
        raise ArithValueError(f"Assignment.index has dtype {idx.dtype}; expected integers")
    if idx.size and (idx.min() < 0 or idx.max() >= len(mults)):
        bad = idx.min() if idx.min() < 0 else idx.max()
        raise ArithValueError(f"Assignment.index holds {int(bad)}; expected 0..{len(mults) - 1} "
                              f"for {len(mults)} multipliers")
    return mults, idx


def _indexed_multipliers(mult: Any, n_out: int, n_in: int) -> tuple[tuple[Multiplier, ...], np.ndarray]:
    """Distinct multipliers of a (nested) sequence and the index of each entry into them."""
    try:
        objs = np.array(mult, dtype=object)
    except ValueError:
        raise ArithValueError("multiplier assignment is a ragged nested sequence; expected shape "
                              f"({n_out},) or ({n_out}, {n_in})") from None
    if objs.ndim not in (1, 2):
        raise ArithValueError(f"multiplier assignment has shape {objs.shape}; expected ({n_out},) "
                              f"(filter) or ({n_out}, {n_in}) (kernel)")
    uniq: dict[Any, int] = {}
    found: list[Multiplier] = []
    flat = np.empty(objs.size, dtype=np.int64)
    for j, mu in enumerate(objs.reshape(-1)):
        if not isinstance(mu, Multiplier):
            pos = tuple(int(v) for v in np.unravel_index(j, objs.shape))
            raise ArithValueError(f"multiplier assignment entry {pos} is {mu!r}, not a Multiplier")
        try:
            key: Any = (0, mu, hash(mu))  # equal ROUP(k, m) share one slot
        except TypeError:
            key = (1, id(mu))
        if key not in uniq:
            uniq[key] = len(found)
            found.append(mu)
        flat[j] = uniq[key]
    return tuple(found), flat.reshape(objs.shape)


# --------------------------------------------------------------------------- layers

def _int_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact int64 ``a @ b``.

    Uses float64 BLAS when ``max|a| * max|b| * n < 2**53``: every product and every partial sum is
    then an integer below ``2**53``, exactly representable, so any summation order is exact.
    """
    n = a.shape[1]
    if a.size == 0 or b.size == 0:
        return np.zeros((a.shape[0], b.shape[1]), dtype=np.int64)
    bound = int(np.abs(a).max()) * int(np.abs(b).max()) * max(n, 1)
    if bound < 2 ** 53:
        return (a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)
    return a @ b


def _matmul_assigned(x: np.ndarray, w: np.ndarray, asg: Assignment) -> np.ndarray:
    """``y[:, o] = sum_i multipliers[index[o, i]](x[:, i], w[i, o])`` for validated int64 codes."""
    batch, n_in = x.shape
    n_out = w.shape[1]
    y = np.zeros((batch, n_out), dtype=np.int64)
    idx_t = asg.index.T  # (n_in, n_out), aligned with w
    # ROUP: round the operands, then one exact integer matmul per distinct activation rounding m.
    k_of = np.full(idx_t.shape, -1, dtype=np.int64)
    m_of = np.full(idx_t.shape, -1, dtype=np.int64)
    tables: list[np.ndarray] = []
    slot = np.zeros(idx_t.shape, dtype=np.int64)  # 0 = not a table multiplier
    for u, mu in enumerate(asg.multipliers):
        sel = idx_t == u
        if not sel.any():
            continue
        if isinstance(mu, ROUPMultiplier):
            k_of[sel], m_of[sel] = mu.k, mu.m
        else:
            tables.append(np.asarray(mu.table, dtype=np.int64))
            slot[sel] = len(tables)
    is_roup = k_of >= 0
    if is_roup.any():
        w_r = np.where(is_roup, _round_at(w, 2 * np.maximum(k_of, 0)), 0)
        for m in np.unique(m_of[is_roup]):
            w_m = np.where(m_of == m, w_r, 0)
            y += _int_matmul(_round_at(x, int(m)), w_m)
    # Tables: one gather from the stacked tables (slot 0 is all zeros), chunked over the batch.
    if tables:
        flat = np.concatenate([np.zeros(TABLE_SIZE * TABLE_SIZE, dtype=np.int64)] + [t.reshape(-1) for t in tables])
        w_off = slot * (TABLE_SIZE * TABLE_SIZE) + (w - A_MIN)  # (n_in, n_out)
        x_off = (x - A_MIN) * TABLE_SIZE  # (batch, n_in)
        rows = max(1, _GATHER_CHUNK // max(1, n_in * n_out))
        for r0 in range(0, batch, rows):
            g = flat[x_off[r0:r0 + rows, :, None] + w_off[None, :, :]]
            y[r0:r0 + rows] += g.sum(axis=1)
    return y


def approx_matmul(x: Any, w: Any, mult: Any) -> np.ndarray:
    """``y[b, o] = sum_i mult_{o,i}(x[b, i], w[i, o])`` with approximate multipliers; int64 ``(batch, n_out)``.

    ``x``: (batch, n_in) signed 8-bit activation codes; ``w``: (n_in, n_out) signed 8-bit weight
    codes; ``mult``: one multiplier (layer), ``n_out`` of them (filter), ``(n_out, n_in)`` of them
    (kernel), or an :class:`Assignment` (see :func:`kernel_assignment`).  ROUP multipliers run as
    integer matmuls of rounded operands, table multipliers as vectorised table gathers; the
    accumulator is exact (int64, no wrap).
    """
    xa = _as_codes(x, "approx_matmul input x", layout="(batch, n_in)")
    wa = _as_codes(w, "approx_matmul weights w", layout="(n_in, n_out)")
    if xa.shape[1] != wa.shape[0]:
        raise ArithValueError(f"approx_matmul n_in mismatch: x has shape {xa.shape}, w has shape {wa.shape}")
    return _matmul_assigned(xa, wa, kernel_assignment(mult, wa.shape[1], wa.shape[0]))


def _check_strides(strides: Any) -> tuple[int, int]:
    s = (strides, strides) if isinstance(strides, (int, np.integer)) and not isinstance(strides, bool) else strides
    try:
        sh, sw = s
    except (TypeError, ValueError):
        raise ArithValueError(f"approx_conv2d strides={strides!r}; expected two positive integers") from None
    for v in (sh, sw):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ArithValueError(f"approx_conv2d strides={strides!r}; expected two positive integers")
    return int(sh), int(sw)


def approx_conv2d(x: Any, w: Any, mult: Any, strides: Any = (1, 1), padding: str = "valid") -> np.ndarray:
    """2-D convolution (Keras ``Conv2D`` without bias) with approximate multipliers; int64 (batch, OH, OW, C_out).

    ``x``: (batch, H, W, C_in) signed 8-bit codes (channels last); ``w``: (kh, kw, C_in, C_out)
    signed 8-bit codes (Keras kernel layout).  ``mult``: one multiplier (layer), ``C_out`` of them
    (filter), ``(C_out, C_in)`` of them (kernel: the same multiplier at every kernel tap of an
    (output, input) channel pair), or an :class:`Assignment` over ``(C_out, C_in)``.
    ``padding`` is ``"valid"`` or ``"same"`` (Keras/TensorFlow: the odd pad goes bottom/right).
    Padding inserts activation code 0, which goes through the multiplier like any other
    activation, as in a line-buffer implementation; exact and ROUP multipliers give 0 for it.
    """
    xa = _as_codes(x, "approx_conv2d input x", layout="(batch, H, W, C_in)")
    wa = _as_codes(w, "approx_conv2d kernel w", layout="(kh, kw, C_in, C_out)")
    batch, h, wd, c_in = xa.shape
    kh, kw, wc_in, c_out = wa.shape
    if wc_in != c_in:
        raise ArithValueError(f"approx_conv2d C_in mismatch: x has shape {xa.shape}, kernel w has shape {wa.shape}")
    sh, sw = _check_strides(strides)
    if padding == "same":
        oh, ow = -(-h // sh), -(-wd // sw)
        ph, pw = max((oh - 1) * sh + kh - h, 0), max((ow - 1) * sw + kw - wd, 0)
        xa = np.pad(xa, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    elif padding == "valid":
        if kh > h or kw > wd:
            raise ArithValueError(f"approx_conv2d kernel {kh}x{kw} is larger than the {h}x{wd} input "
                                  f"with padding='valid'")
    else:
        raise ArithValueError(f"approx_conv2d padding={padding!r}; expected 'valid' or 'same'")
    asg = kernel_assignment(mult, c_out, c_in)
    asg = Assignment(asg.multipliers, np.tile(asg.index, (1, kh * kw)))  # patch order (kh, kw, C_in)
    win = np.lib.stride_tricks.sliding_window_view(xa, (kh, kw), axis=(1, 2))[:, ::sh, ::sw]
    oh, ow = win.shape[1], win.shape[2]
    patches = win.transpose(0, 1, 2, 4, 5, 3).reshape(batch * oh * ow, kh * kw * c_in)
    y = _matmul_assigned(patches, wa.reshape(kh * kw * c_in, c_out), asg)
    return y.reshape(batch, oh, ow, c_out)


# --------------------------------------------------------------------------- error metrics

def error_metrics(mult: Multiplier) -> dict[str, float]:
    """Error of ``mult`` against ``a * b`` over all 65,536 signed 8-bit pairs, each pair weighted equally.

    ``ed = |P - a*b|``.  Keys: ``mae`` mean ``ed``; ``wce`` worst-case ``ed``; ``mred`` mean of
    ``ed / |a*b|`` over the pairs whose exact product is non-zero (the 511 pairs with ``a*b == 0``
    are left out of MRED, but counted in every other metric); ``ep`` fraction of pairs with
    ``ed != 0``; ``bias`` mean signed error ``P - a*b``.
    """
    if not isinstance(mult, Multiplier):
        raise ArithValueError(f"error_metrics needs a Multiplier, got {mult!r}")
    grid = np.arange(A_MIN, A_MAX + 1, dtype=np.int64)
    exact = grid[:, None] * grid[None, :]
    approx = np.asarray(mult(grid[:, None], grid[None, :]), dtype=np.int64)
    if approx.shape != exact.shape:
        raise ArithValueError(f"multiplier {mult.name!r} returned shape {approx.shape} for a {exact.shape} grid")
    err = approx - exact
    ed = np.abs(err)
    nz = exact != 0
    return {
        "mae": float(ed.mean()),
        "wce": float(ed.max()),
        "mred": float((ed[nz] / np.abs(exact[nz])).mean()),
        "ep": float(np.count_nonzero(ed) / ed.size),
        "bias": float(err.mean()),
    }


__all__ = [
    "Assignment", "Multiplier", "ROUPMultiplier", "TableMultiplier", "RAW_NBYTES",
    "approx_conv2d", "approx_matmul", "booth_multiply", "error_metrics", "exact_table", "integer_bits_for",
    "kernel_assignment", "load_table", "multiplier_from_spec",
    "multiplier_spec", "roup", "roup_round_a", "roup_round_b", "roup_table", "save_table", "valid_roup_params",
]
