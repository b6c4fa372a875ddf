"""Verilog generators of residue number system (RNS) hardware: converters, modular channels, an RNS Dense layer.

Every unit is combinational and built from the templates ``templates/rtl/rns_*.v``; the moduli are of the
three kinds with division-free reductions (``2**n``, ``2**n - 1``, ``2**n + 1``; :func:`toolchain.arith.rns.
modulus_kind`), at most ``2**16 + 1``, with a dynamic range ``M <= 2**62``.  The shared modules:

* ``<prefix>_reduce``: ``v mod m`` by truncation / chunk folds with end-around carry / alternating chunk sums,
  as :func:`toolchain.arith.rns.reduce_bounded`;
* ``<prefix>_to_residue``: forward conversion of a signed code as :func:`toolchain.arith.rns.to_residue_fold`.

Units (ports: residues are unsigned elements; residue vectors are ``elements = len(moduli)`` words of the widest
residue's bits, element j holding the residue modulo ``moduli[j]``):

* :func:`rns_forward`: ``x`` (signed ``width`` bits) -> ``r`` (one residue per modulus);
* :func:`rns_channel`: ``x`` (``n_in`` residues modulo ``m``) -> ``y = |sum_i w_i x_i|_m`` for constant weight
  residues ``w_i``: shift-and-add over the set bits of ``w_i`` (or of ``m - w_i`` with the input negated, when that
  has fewer: :func:`signed_residues`), rotations for ``2**n - 1``, n-bit words for ``2**n``, a lazy binary sum for
  ``2**n + 1``, one final reduction; a zero weight residue (or a zero bit of one) generates no adder;
* :func:`rns_reverse`: ``r`` (residues) -> ``x`` (signed, ``(-M/2, M/2]``) by division-free CRT
  (:func:`toolchain.arith.rns.crt_division_free`) or mixed radix (:func:`~toolchain.arith.rns.mrc_division_free`);
* :func:`rns_dense`: an RNS Dense layer (``RNSKernel.rtl_layer``): forward converters, a channel per modulus and
  output, a reverse converter per output, the shift onto the accumulator grid and the bias.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from toolchain.arith import rns as ref
from toolchain.arith.fixed import bits_for_range
from toolchain.errors import ArithValueError
from toolchain.rtl.verilog import Port, RtlUnit, check_identifier, int_param, packed_hex, render

MAX_RTL_MODULUS = 2**16 + 1  # widths and constants of the templates are 32-bit Verilog integers
MAX_CODE_WIDTH = 32  # forward converter input width
MAX_REDUCE_WIDTH = 64  # the reduction module folds at most four times: enough for 64-bit inputs
MAX_N_IN = 4096
MODULUS_FIELD = 32  # bits of one modulus in a packed MODULI table


def _int(value: Any, name: str, lo: int, hi: int, what: str) -> int:
    return int_param(value, name, lo, hi, what, "RNS RTL")


def check_modulus(m: Any) -> int:
    """``m`` if the RTL supports it: ``2**n`` (n >= 1), ``2**n - 1`` or ``2**n + 1`` (n >= 2), at most 2**16 + 1."""
    m = _int(m, "modulus", 2, MAX_RTL_MODULUS, "2**n, 2**n - 1 or 2**n + 1")
    if ref.modulus_kind(m).kind == "generic":
        raise ArithValueError(f"RNS RTL parameter modulus={m} is not of a supported kind: valid moduli are 2**n, "
                              f"2**n - 1 or 2**n + 1 in 2..{MAX_RTL_MODULUS} (no division-free chunk reduction)")
    return m


def check_moduli(moduli: Any) -> tuple[int, ...]:
    """Pairwise-coprime moduli (at least two), each of a supported kind, with ``M <= 2**62``; ArithValueError."""
    moduli = ref.validate_moduli(moduli)  # integers > 1, no duplicates, coprime
    for m in moduli:
        check_modulus(m)
    if math.prod(moduli) > ref.MAX_DYNAMIC_RANGE:
        raise ArithValueError(f"RNS RTL parameter moduli={moduli} gives M={math.prod(moduli)}: valid M is at most "
                              "2**62")
    return moduli


def residue_width(m: int) -> int:
    """Bits of a residue modulo ``m`` (of ``m - 1``): n, or n + 1 for ``2**n + 1``."""
    return max((int(m) - 1).bit_length(), 1)


def _moduli_table(moduli: Sequence[int]) -> str:
    return _unsigned(moduli, MODULUS_FIELD)


def _functions() -> str:
    """The constant functions the RNS modules share (``rns_functions.vh``), pasted into each module that uses them."""
    return render("rns_functions.vh").rstrip("\n")


def _unsigned(values: Sequence[int], width: int) -> str:
    """A packed constant table of non-negative ``width``-bit fields (``packed_hex``, unsigned)."""
    return packed_hex(values, width, unsigned=True)


def _library(prefix: str) -> str:
    """The shared reduction and forward-conversion modules, named ``<prefix>_fold/_reduce/_to_residue``."""
    return (render("rns_reduce.v", PREFIX=prefix, RNS_FUNCTIONS=_functions()) + "\n"
            + render("rns_to_residue.v", PREFIX=prefix, RNS_FUNCTIONS=_functions()))


def rns_forward(moduli: Sequence[int], width: int, name: str | None = None) -> RtlUnit:
    """Binary-to-residue converter: signed ``width``-bit ``x`` (1..32 bits) -> ``r``, one residue per modulus.

    Equal to :func:`toolchain.arith.rns.to_residue_fold` (and ``to_residues``: both give ``x mod m``)."""
    moduli = check_moduli(moduli)
    width = _int(width, "width", 1, MAX_CODE_WIDTH, "bits of the signed input code")
    name = check_identifier(name or f"rns_forward_w{width}_" + "_".join(map(str, moduli)))
    rw = max(residue_width(m) for m in moduli)
    text = _library(name) + "\n" + render(
        "rns_forward.v", NAME=name, PREFIX=name, W=width, NM=len(moduli), RW=rw,
        MODULI=_unsigned(moduli, MODULUS_FIELD), MODULI_TEXT=", ".join(map(str, moduli)))
    ports = (Port("x", "input", width), Port("r", "output", rw, signed=False, elements=len(moduli)))
    return RtlUnit(name, text, ports, {"moduli": moduli, "width": width})


def _check_residues(values: Any, m: int, what: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.size and (arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer)):
        raise ArithValueError(f"RNS RTL parameter {what} must hold integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= m):
        bad = arr[(arr < 0) | (arr >= m)].ravel()[0]
        raise ArithValueError(f"RNS RTL parameter {what} holds {int(bad)}: valid residues are 0..{m - 1} (modulus {m})")
    return arr


def signed_residues(m: int, residues: Sequence[int]) -> tuple[list[int], list[int]]:
    """(held, negate): each weight residue r as the channel holds it, r itself or ``m - r`` (negate 1) when that
    has fewer set bits (fewer shifted words: a small negative weight's residue ``m - |w|`` becomes ``|w|``)."""
    held, negate = [], []
    for r in (int(v) for v in residues):
        neg = r != 0 and bin(m - r).count("1") < bin(r).count("1")
        held.append(m - r if neg else r)
        negate.append(int(neg))
    return held, negate


def channel_sum_width(m: int, weights: Sequence[int]) -> int:
    """Bits of a channel's binary sum before its reduction, for the held weights (:func:`signed_residues`): n for
    ``2**n`` (the sum is taken modulo 2**n); for ``2**n - 1`` n + bits(set bits of the weights) (one rotated word
    < 2**n per set bit); for ``2**n + 1`` (n + 1) + bits(sum of the weights) (x w_i <= (2**n + 1) w_i)."""
    kind = ref.modulus_kind(m)
    if kind.kind == "pow2":
        return kind.n
    if kind.kind == "low":
        return kind.n + max(sum(bin(int(w)).count("1") for w in weights).bit_length(), 1)
    return kind.width + max(sum(int(w) for w in weights).bit_length(), 1)


def _channel_text(name: str, prefix: str, m: int, weights: Sequence[int], ww: int, out_w: int) -> str:
    held, negate = signed_residues(m, weights)
    return render("rns_channel.v", RNS_FUNCTIONS=_functions(), NAME=name, PREFIX=prefix, M=m, N_IN=len(weights),
                  WW=ww, OUT_W=out_w,
                  SW=channel_sum_width(m, held), WEIGHTS=_unsigned(held, ww), NEGATE=_unsigned(negate, 1))


def rns_channel(modulus: int, weights: Sequence[int], name: str | None = None) -> RtlUnit:
    """One modular MAC channel with constant weight residues: ``x`` (``n_in`` residues modulo ``modulus``,
    ``n_in`` in 1..4096) -> ``y = |sum_i weights[i] x_i|_modulus`` (equal to ``mod_mac`` applied term by term).

    ``weights``: residues in ``[0, modulus)``; a zero one generates no term (yosys-checked in the tests).
    Ports: ``x`` unsigned elements of ``bits(modulus - 1)`` bits, ``y`` one such word."""
    m = check_modulus(modulus)
    w = _check_residues(weights, m, "weights").reshape(-1)
    _int(int(w.size), "n_in", 1, MAX_N_IN, "terms of the channel")
    name = check_identifier(name or f"rns_channel_m{m}_n{w.size}")
    rw = residue_width(m)
    text = (render("rns_reduce.v", PREFIX=name, RNS_FUNCTIONS=_functions()) + "\n"
            + _channel_text(name, name, m, w.tolist(), rw, rw))
    ports = (Port("x", "input", rw, signed=False, elements=int(w.size)), Port("y", "output", rw, signed=False))
    return RtlUnit(name, text, ports, {"modulus": m, "weights": tuple(int(v) for v in w)})


def _reverse_text(name: str, prefix: str, moduli: tuple[int, ...], method: str, rw: int) -> tuple[str, int]:
    """The reverse converter module ``name`` for ``moduli`` (its constants as parameter defaults) and its result
    width VW."""
    big_m = math.prod(moduli)
    mw = big_m.bit_length()
    vw = bits_for_range(-(big_m // 2), (big_m - 1) // 2, signed=True)
    common = {"NAME": name, "PREFIX": prefix, "NM": len(moduli), "RW": rw, "MW": mw, "VW": vw,
              "MODULI": _unsigned(moduli, MODULUS_FIELD), "BIG_M": _unsigned([big_m], mw),
              "HALF": _unsigned([(big_m - 1) // 2], mw), "MODULI_TEXT": ", ".join(map(str, moduli)),
              "BIG_M_TEXT": big_m}
    if method == "crt":
        weights, inverses = ref.crt_constants(moduli)
        text = render("rns_crt.v", STEPS=ref.crt_steps(len(moduli)), INVERSES=_unsigned(inverses, rw),
                      WEIGHTS=_unsigned(weights, mw), **common)
    else:
        table = ref.mrc_constants(moduli)  # table[i][j] = |m_i^-1|_{m_j} for i < j
        flat = [table[i][j] for i in range(len(moduli)) for j in range(len(moduli))]
        text = render("rns_mrc.v", MODULI_MW=_unsigned(moduli, mw), INVERSES=_unsigned(flat, rw), **common)
    return text, vw


def check_method(method: Any) -> str:
    """``'crt'`` or ``'mrc'`` (ArithValueError otherwise)."""
    if method not in ref.REVERSE_CONVERSIONS:
        raise ArithValueError(f"RNS RTL parameter method={method!r} is not a reverse conversion: valid are "
                              f"{', '.join(ref.REVERSE_CONVERSIONS)}")
    return method


def rns_reverse(moduli: Sequence[int], method: str = "crt", name: str | None = None) -> RtlUnit:
    """Residue-to-binary converter: ``r`` (one residue per modulus) -> signed ``x`` in
    ``[-(M div 2), (M - 1) div 2]``, by division-free CRT (``method='crt'``, as
    :func:`toolchain.arith.rns.crt_division_free`) or mixed radix (``'mrc'``, as ``mrc_division_free``)."""
    moduli = check_moduli(moduli)
    method = check_method(method)
    name = check_identifier(name or f"rns_{method}_" + "_".join(map(str, moduli)))
    rw = max(residue_width(m) for m in moduli)
    text, vw = _reverse_text(name, name, moduli, method, rw)
    ports = (Port("r", "input", rw, signed=False, elements=len(moduli)), Port("x", "output", vw))
    return RtlUnit(name, render("rns_reduce.v", PREFIX=name, RNS_FUNCTIONS=_functions()) + "\n" + text, ports,
                   {"moduli": moduli, "method": method})


def rns_dense(residues: np.ndarray, moduli: Sequence[int], x_width: int, x_signed: bool, method: str,
              pre_shift: int, bias_acc: Sequence[int], acc_width: int, name: str) -> RtlUnit:
    """An RNS Dense layer: ``x`` (``n_in`` codes of ``x_width`` bits, signed if ``x_signed``) -> ``acc``
    (``n_out`` signed ``acc_width``-bit words), ``acc_o = (reverse(|sum_i w[i,o] x_i|_{m_j}) << pre_shift) +
    bias_acc[o]`` computed modulo ``2**acc_width`` (exact whenever the accumulator holds every value).

    ``residues``: int (n_mod, n_in, n_out), ``|w[i, o]|_{m_j}``; ``method``: ``'crt'`` or ``'mrc'``.  The reverse
    converter is exact when ``M > 2 max|dot|`` (``RNSKernel.encode`` checks it)."""
    moduli = check_moduli(moduli)
    method = check_method(method)
    name = check_identifier(name)
    res = np.asarray(residues)
    if res.ndim != 3 or res.shape[0] != len(moduli):
        raise ArithValueError(f"RNS RTL parameter residues has shape {res.shape}: valid is (n_mod={len(moduli)}, "
                              "n_in, n_out)")
    for j, m in enumerate(moduli):
        _check_residues(res[j], m, f"residues[{j}]")
    n_in, n_out = int(res.shape[1]), int(res.shape[2])
    _int(n_in, "n_in", 1, MAX_N_IN, "inputs of the layer")
    _int(n_out, "n_out", 1, MAX_N_IN, "outputs of the layer")
    x_width = _int(x_width, "x_width", 1, MAX_CODE_WIDTH - 1, "bits of the input codes")
    acc_width = _int(acc_width, "acc_width", 1, 256, "accumulator bits")
    pre_shift = _int(pre_shift, "pre_shift", 0, acc_width, "accumulator grid shift")
    bias = [int(b) for b in np.asarray(bias_acc).reshape(-1)]
    if len(bias) != n_out:
        raise ArithValueError(f"RNS RTL parameter bias_acc has {len(bias)} values: valid is one per output ({n_out})")
    rw = max(residue_width(m) for m in moduli)
    reverse_name = f"{name}_{method}"
    reverse_text, vw = _reverse_text(reverse_name, name, moduli, method, rw)
    # table order ((j * n_out + o) * n_in + i): one channel's weights are one contiguous slice
    held = [signed_residues(m, res[j, :, o].tolist()) for j, m in enumerate(moduli) for o in range(n_out)]
    flat = [r for weights, _ in held for r in weights]
    negates = [bit for _, bits in held for bit in bits]
    sum_widths = [channel_sum_width(m, weights) for (weights, _), m in
                  zip(held, (m for m in moduli for _ in range(n_out)))]
    top = render("rns_dense.v", RNS_FUNCTIONS=_functions(), NAME=name, PREFIX=name, N_IN=n_in, N_OUT=n_out, XW=x_width,
                 X_SIGNED=int(bool(x_signed)), NM=len(moduli), RW=rw, VW=vw, ACC_W=acc_width, PRE_SHIFT=pre_shift,
                 MODULI=_unsigned(moduli, MODULUS_FIELD), RESIDUES=_unsigned(flat, rw),
                 SUM_WIDTHS=_unsigned(sum_widths, MODULUS_FIELD), NEGATES=_unsigned(negates, 1),
                 BIAS=packed_hex(bias, acc_width), MODULI_TEXT=", ".join(map(str, moduli)),
                 REVERSE=reverse_name, REVERSE_TEXT=method.upper())
    first = res[0, :, 0].tolist()  # the channel module's defaults (every instance overrides them)
    text = "\n".join((_library(name), _channel_text(f"{name}_channel", name, moduli[0], first, rw, rw),
                      reverse_text, top))
    ports = (Port("x", "input", x_width, signed=bool(x_signed), elements=n_in),
             Port("acc", "output", acc_width, elements=n_out))
    return RtlUnit(name, text, ports, {"moduli": moduli, "method": method, "n_in": n_in, "n_out": n_out})


__all__ = ["MAX_RTL_MODULUS", "channel_sum_width", "check_method", "check_moduli", "check_modulus", "residue_width",
           "rns_channel", "rns_dense", "rns_forward", "rns_reverse", "signed_residues"]
