"""Verilog generators of the structured sparse ternary (N,k) code (``toolchain.arith.ternary``).

* :func:`nk_decoder`: combinational group decoder, a pattern index (``code_bits(N, k)`` bits) -> the
  group's ``N`` ternary weights, each a 2-bit two's complement number in {-1, 0, +1} (bit 0: non-zero,
  bit 1: negative; the (nonzero, sign) pair of an add/subtract unit).  It holds the canonical
  :func:`~toolchain.arith.ternary.codebook` as a constant table.
* :func:`nk_code_rom` and :func:`dense_ternary_rom`: the two ways of storing the same weights that the
  bench compares, both clocked (one registered read, as block RAM reads are), ports ``addr`` -> ``t``:
  a ROM of one group code per address followed by the decoder, or a ROM of ``2N`` bits per address
  (2 bits per weight).
* :func:`nk_dense_layer`: the constant-weight Dense layer of the ``nk`` kernel (``NKKernel.rtl_layer``): per
  output, a leaf ``x_i << shift`` only for each non-zero weight (found by constant functions over the
  decoded weights), one balanced adder tree for the +1 weights and one for the -1 weights, the bias added
  and the -1 sum subtracted: one adder per non-zero weight.  The weights enter the module as the layer's
  group codes and the codebook, decoded while the module is elaborated (so no decoder is built).

Simulated bit for bit against ``toolchain.arith.ternary`` and ``NKKernel.accumulate`` in
``tests/test_rtl_nk.py``; costed by ``bench/rtl_nk.py``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from toolchain.arith import ternary
from toolchain.errors import ArithValueError
from toolchain.rtl.verilog import Port, RtlUnit, check_identifier, is_integer, packed_hex, render

MAX_GROUP = 16  # N of the RTL generators (the codebook must also have at most 65536 rows)
MAX_GROUPS = 1 << 16  # rows of a storage ROM


def max_k(n: int) -> int:
    """Largest k whose (n, k) codebook fits 65536 rows (uint16 indices): n for n <= 10, 4 for n = 16."""
    k = 0
    while k < n and _patterns(n, k + 1) <= ternary.MAX_PATTERNS:
        k += 1
    return k


def _patterns(n: int, k: int) -> int:
    from math import comb

    return sum(comb(n, i) << i for i in range(k + 1))


def check_nk(n: Any, k: Any) -> tuple[int, int]:
    """``(N, k)`` as ints: N in 1..16, k in 0..max_k(N) (the codebook has at most 65536 rows); else ArithValueError."""
    if not is_integer(n) or not 1 <= n <= MAX_GROUP:
        raise ArithValueError(f"(N,k) RTL: N={n!r} out of range: an integer in 1..{MAX_GROUP}")
    n = int(n)
    hi = max_k(n)
    if not is_integer(k) or not 0 <= k <= hi:
        raise ArithValueError(f"(N,k) RTL: k={k!r} out of range for N={n}: an integer in 0..{hi}"
                              + ("" if hi == n else f" (a larger k has over {ternary.MAX_PATTERNS} patterns)"))
    return n, int(k)


def index_bits(n: int, k: int) -> int:
    """Width of the ``code`` port: ``code_bits(n, k)``, at least 1 (k = 0 has the single index 0)."""
    return max(ternary.code_bits(n, k), 1)


def pattern_rows(n: int, k: int) -> list[int]:
    """The codebook rows as ``2n``-bit words, weight p at bits ``[2p+1:2p]`` (two's complement -1, 0, +1)."""
    rows = []
    for row in ternary.codebook(n, k).astype(np.int64):
        word = 0
        for p, t in enumerate(row.tolist()):
            word |= (t & 3) << (2 * p)
        rows.append(word)
    return rows


def nk_decoder(n: int = 8, k: int = 2, name: str | None = None) -> RtlUnit:
    """The (N,k) group decoder: input ``code`` (unsigned, ``index_bits(n, k)`` bits), output ``t`` (``n`` signed
    2-bit weights in {-1, 0, +1}); ``t`` is row ``code`` of ``codebook(n, k)``, and all zeros for a code past it."""
    n, k = check_nk(n, k)
    name = check_identifier(name or f"nk_decoder_{n}_{k}")
    bits = index_bits(n, k)
    rows = pattern_rows(n, k)
    text = render("nk_decoder.v", NAME=name, N=n, K=k, CODE_BITS=bits, N_PATTERNS=len(rows),
                  PATTERNS=packed_hex(rows, 2 * n))
    ports = (Port("code", "input", bits, signed=False), Port("t", "output", 2, signed=True, elements=n))
    return RtlUnit(name, text, ports, {"n": n, "k": k, "code_bits": bits, "n_patterns": len(rows)})


def _addr_bits(groups: int) -> int:
    return max((groups - 1).bit_length(), 1)


def _check_groups(groups: int, what: str) -> int:
    if not 1 <= groups <= MAX_GROUPS:
        raise ArithValueError(f"{what} has {groups} groups; a storage ROM holds 1..{MAX_GROUPS}")
    return groups


def nk_code_rom(codes: Any, n: int = 8, k: int = 2, name: str | None = None) -> RtlUnit:
    """A ROM of group codes (``codes``: 1-D codebook indices, one per address) followed by the (n, k) decoder.

    Clocked: ``t`` after a rising edge is ``codebook(n, k)[codes[addr]]`` for the ``addr`` sampled at that edge
    (ports ``addr`` unsigned, ``t`` as :func:`nk_decoder`'s).  Stores ``index_bits(n, k)`` bits per group; the
    decoder's table lookup is written inline (one flat module).
    """
    n, k = check_nk(n, k)
    name = check_identifier(name or f"nk_code_rom_{n}_{k}")
    arr = np.asarray(codes)
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise ArithValueError(f"nk_code_rom codes must be a 1-D integer array; got shape {arr.shape}, "
                              f"dtype {arr.dtype}")
    groups = _check_groups(arr.size, "nk_code_rom codes")
    n_pat = ternary.n_patterns(n, k)
    if arr.min() < 0 or arr.max() >= n_pat:
        bad = int(arr[(arr < 0) | (arr >= n_pat)][0])
        raise ArithValueError(f"nk_code_rom code {bad} out of range: the ({n},{k}) codebook has indices 0..{n_pat - 1}")
    bits = index_bits(n, k)
    rows = pattern_rows(n, k)
    text = render("nk_code_rom.v", NAME=name, N=n, K=k, CODE_BITS=bits, GROUPS=groups, ADDR_BITS=_addr_bits(groups),
                  N_PATTERNS=len(rows), CODES=packed_hex(arr.tolist(), bits), PATTERNS=packed_hex(rows, 2 * n))
    ports = (Port("addr", "input", _addr_bits(groups), signed=False),
             Port("t", "output", 2, signed=True, elements=n))
    return RtlUnit(name, text, ports,
                   {"n": n, "k": k, "groups": groups, "storage_bits": groups * bits}, clocked=True)


def dense_ternary_rom(weights: Any, name: str | None = None) -> RtlUnit:
    """A ROM of ternary words at 2 bits per weight: ``weights`` is ``(groups, n)`` in {-1, 0, +1}, row ``addr`` read.

    Clocked, the same ports as :func:`nk_code_rom` of the same groups (``t``: ``n`` signed 2-bit weights).
    """
    w = np.asarray(weights)
    if w.ndim != 2 or w.dtype.kind not in "iu" or not np.isin(w, (-1, 0, 1)).all():
        raise ArithValueError(f"dense_ternary_rom weights must be a 2-D (groups, N) integer array in {{-1, 0, 1}}; "
                              f"got shape {w.shape}, dtype {w.dtype}")
    groups, n = w.shape
    if not 1 <= n <= MAX_GROUP:
        raise ArithValueError(f"dense_ternary_rom: N={n} weights per word out of range: 1..{MAX_GROUP}")
    groups = _check_groups(groups, "dense_ternary_rom weights")
    name = check_identifier(name or f"nk_dense_rom_{n}")
    words = [sum((int(t) & 3) << (2 * p) for p, t in enumerate(row)) for row in w.astype(np.int64).tolist()]
    text = render("nk_dense_rom.v", NAME=name, N=n, GROUPS=groups, ADDR_BITS=_addr_bits(groups),
                  WEIGHTS=packed_hex(words, 2 * n))
    ports = (Port("addr", "input", _addr_bits(groups), signed=False),
             Port("t", "output", 2, signed=True, elements=n))
    return RtlUnit(name, text, ports, {"n": n, "groups": groups, "storage_bits": groups * 2 * n}, clocked=True)


def nk_dense_layer(codes: Any, n: int, k: int, n_in: int, x_width: int, x_signed: bool, acc_width: int,
                   shifts: Any, bias: Any, name: str) -> RtlUnit:
    """The constant-weight (n, k) Dense layer: ``acc[o] = bias[o] + sum_i t[i, o] * (x[i] << shifts[o])``.

    ``codes``: ``(ceil(n_in / n), n_out)`` codebook indices (``ternary.encode_nk``; ``t = decode_nk(codes)``);
    ``x_width``: bits of an input code (1..64), ``x_signed`` its signedness; ``acc_width``: bits of the signed
    accumulator (1..64), which must hold the exact result (the sums wrap modulo ``2**acc_width``); ``shifts``:
    ``(n_out,)`` left shifts >= 0; ``bias``: ``(n_out,)`` ints on the accumulator grid.  Combinational ports:
    ``x`` (``n_in`` elements) and ``acc`` (``n_out`` signed elements).  Zero weights generate no term.
    """
    n, k = check_nk(n, k)
    name = check_identifier(name)
    if not is_integer(n_in) or not 1 <= n_in <= 4096:
        raise ArithValueError(f"nk layer n_in={n_in!r} out of range: an integer in 1..4096")
    for value, what in ((x_width, "x_width"), (acc_width, "acc_width")):
        if not is_integer(value) or not 1 <= value <= 64:
            raise ArithValueError(f"nk layer {what}={value!r} out of range: an integer in 1..64")
    n_in, x_width, acc_width = int(n_in), int(x_width), int(acc_width)
    codes = np.asarray(codes)
    n_groups = -(-n_in // n)
    if codes.ndim != 2 or codes.dtype.kind not in "iu" or codes.shape[0] != n_groups or codes.shape[1] < 1:
        raise ArithValueError(f"nk layer codes must be an integer ({n_groups}, n_out) array for n_in={n_in}, N={n}; "
                              f"got shape {codes.shape}, dtype {codes.dtype}")
    ternary.decode_nk(codes, n, k, n_in)  # the indices are in the codebook and the padding rows are zero
    n_out = codes.shape[1]
    shifts = np.asarray(shifts, dtype=np.int64).reshape(-1)
    bias = np.asarray(bias, dtype=np.int64).reshape(-1)
    if shifts.shape != (n_out,) or shifts.min() < 0 or shifts.max() > 255:
        raise ArithValueError(f"nk layer shifts must be {n_out} integers in 0..255; got {shifts.tolist()[:8]}")
    lo, hi = -(1 << (acc_width - 1)), (1 << (acc_width - 1)) - 1
    if bias.shape != (n_out,) or bias.min() < lo or bias.max() > hi:
        raise ArithValueError(f"nk layer bias must be {n_out} integers in {lo}..{hi} (acc_width={acc_width})")
    bits = index_bits(n, k)
    rows = pattern_rows(n, k)
    shift_w = max(int(shifts.max()).bit_length(), 1)
    text = render("nk_dense.v", NAME=name, N_IN=n_in, N_OUT=n_out, X_W=x_width, X_SIGNED=int(bool(x_signed)),
                  ACC_W=acc_width, N=n, K=k, CODE_BITS=bits, N_PATTERNS=len(rows), SHIFT_W=shift_w,
                  CODES=packed_hex(codes.reshape(-1).tolist(), bits), PATTERNS=packed_hex(rows, 2 * n),
                  SHIFTS=packed_hex(shifts.tolist(), shift_w), BIAS=packed_hex(bias.tolist(), acc_width))
    ports = (Port("x", "input", x_width, signed=bool(x_signed), elements=n_in),
             Port("acc", "output", acc_width, signed=True, elements=n_out))
    terms = int(np.count_nonzero(ternary.decode_nk(codes, n, k, n_in)))
    return RtlUnit(name, text, ports, {"n": n, "k": k, "n_in": n_in, "n_out": n_out, "terms": terms})


__all__ = ["MAX_GROUP", "check_nk", "dense_ternary_rom", "index_bits", "max_k", "nk_code_rom", "nk_decoder",
           "nk_dense_layer", "pattern_rows"]
