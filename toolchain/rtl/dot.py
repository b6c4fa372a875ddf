"""Verilog generators of constant-weight dot products (one Dense layer, one output pixel of a Conv layer).

Three datapaths, each a combinational module with input port ``x`` (``n_in`` codes of ``x_bits`` bits,
signed or unsigned) and output port ``acc`` (``n_out`` signed accumulators of ``acc_width`` bits), the
port convention of :meth:`toolchain.kernels.base.Kernel.rtl_layer`:

* :func:`pot_dot` -- power-of-two weights, bitshift-accumulate: per non-zero weight ``+-(x << shift)``;
* :func:`mac_dot` -- integer weights: per non-zero weight ``x * w`` with ``w`` a constant (synthesis turns a
  constant multiply into shifts and adds: the honest constant-weight baseline.  A multiplier whose weight
  arrives at run time, from a ROM of a folded layer, is a different and larger baseline:
  :func:`toolchain.rtl.exact_multiplier`);
* :func:`roup_dot` -- ROUP(k, m) terms of the approx kernel: each input requantized once to the 8-bit
  activation (round half up, saturate), rounded at its term's ``m``, times the constant perforated weight,
  shifted by ``m + 2k``; the sum shifted onto the accumulator grid.

Python decides only which terms exist and how wide each adder is; the structure is in one template,
``templates/rtl/dot_const.v``, whose ``TERM_KIND`` chooses the term (and ROUP's activation stage) by generate
blocks around the shared input extension, adder tree and bias (the tables of the other kinds are 1-bit zero
placeholders, never read): the non-zero weights are passed as per-output lists of terms (packed constant
tables), so a zero weight generates no term at all, and each output's terms are summed by a balanced adder
tree whose every node is exactly as wide as the range it can reach, plus the bias.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from toolchain.arith import fixed
from toolchain.errors import ArithValueError
from toolchain.rtl.verilog import Port, RtlUnit, check_identifier, int_param, packed_hex, render

MAX_WIDTH = 250  # widest term, node or accumulator supported
TABLE_FIELD_BITS = 32  # numeric tables (indices, shifts, widths) in the templates
MAX_X_BITS = 64
MAX_SHIFT = 128
ACT_BITS = 8  # the approx kernel's activation and weight codes (toolchain.kernels.approx.OPERAND_BITS)
ROUP_K_MAX, ROUP_M_MAX = ACT_BITS // 2 - 1, ACT_BITS - 1
REQUANT_SHIFT_RANGE = (-64, 64)
TEMPLATE = "dot_const.v"
TERM_KINDS = {"pot": 0, "mac": 1, "roup": 2}  # the template's TERM_KIND (KIND_POT, KIND_MAC, KIND_ROUP)
_PLACEHOLDER_TABLE = packed_hex([], 1)  # a table this kind does not read: 1'h0
# the kind-specific values of the template, as a kind that does not read them gives them
_KIND_DEFAULTS: dict[str, object] = {
    "REQUANT_SHIFT": 0, "ROUND_BITS": ACT_BITS + 1, "SATURATE": 0, "PRODUCT_SHIFT": 0,
    "TERM_SHIFT": _PLACEHOLDER_TABLE, "TERM_NEG": _PLACEHOLDER_TABLE, "TERM_WEIGHT": _PLACEHOLDER_TABLE,
    "TERM_M": _PLACEHOLDER_TABLE, "TERM_PW": _PLACEHOLDER_TABLE}


# ---- parameter checks ----------------------------------------------------------------------------------------

def _int_param(value: Any, name: str, lo: int, hi: int, what: str) -> int:
    return int_param(value, name, lo, hi, what, "dot product")

def _matrix(value: Any, name: str, shape: tuple[int, int] | None = None) -> np.ndarray:
    """``value`` as an int64 (n_in, n_out) matrix with n_in, n_out >= 1 (and ``shape`` when given)."""
    arr = np.asarray(value)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer) or arr.ndim != 2 or 0 in arr.shape:
        raise ArithValueError(f"dot product {name} must be a 2-D integer array (n_in, n_out) with n_in, n_out >= 1; "
                              f"got dtype {arr.dtype}, shape {arr.shape}")
    if shape is not None and arr.shape != shape:
        raise ArithValueError(f"dot product {name} has shape {arr.shape}; expected {shape} (n_in, n_out)")
    return arr.astype(np.int64)


def _in_range(arr: np.ndarray, name: str, lo: int, hi: int, what: str) -> None:
    if arr.size and (int(arr.min()) < lo or int(arr.max()) > hi):
        bad = int(arr.min()) if int(arr.min()) < lo else int(arr.max())
        raise ArithValueError(f"dot product {name} holds {bad}: out of range, valid {lo}..{hi} ({what})")


def _bias(bias: Any, n_out: int) -> list[int]:
    if bias is None:
        return [0] * n_out
    arr = np.asarray(bias)
    if arr.dtype == np.bool_ or not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == object) \
            or arr.shape != (n_out,):
        raise ArithValueError(f"dot product bias must be {n_out} integers (one per output, on the accumulator "
                              f"grid); got dtype {arr.dtype}, shape {arr.shape}")
    return [int(v) for v in arr]


def _x_range(x_bits: Any, x_signed: Any) -> tuple[int, bool, int, int]:
    bits = _int_param(x_bits, "x_bits", 1, MAX_X_BITS, "bits of one input code")
    if not isinstance(x_signed, (bool, np.bool_)):
        raise ArithValueError(f"dot product parameter x_signed={x_signed!r} must be True or False")
    signed = bool(x_signed)
    return bits, signed, (-(1 << (bits - 1)) if signed else 0), ((1 << (bits - 1)) - 1 if signed else (1 << bits) - 1)


# ---- the shared layout: per-output term lists, exact widths of terms, tree nodes and sums ----------------------

@dataclass(frozen=True)
class _Layout:
    """Per-output lists of the generated terms and the exact width of every term, adder and sum."""

    terms: list[tuple[int, int]]  # (input, output) of every generated term, output by output
    term_w: list[int]
    node_w: list[int]  # aligned with ``terms``: output o's tree adders at its own term slots (last slot padding)
    first: list[int]
    count: list[int]
    sum_w: list[int]
    acc_width: int
    carrier: int

    def values(self, bias: list[int]) -> dict[str, object]:
        """The placeholders every dot template shares."""
        return {"CARRIER_BITS": self.carrier, "ACC_BITS": self.acc_width,
                "TERM_IN": _table([i for i, _ in self.terms]), "TERM_W": _table(self.term_w),
                "NODE_W": _table(self.node_w), "OUT_FIRST": _table(self.first), "OUT_TERMS": _table(self.count),
                "SUM_W": _table(self.sum_w), "BIAS": packed_hex(bias, self.carrier)}


def _table(values: list[int]) -> str:
    """A numeric table for a template: 32-bit fields, the width of the Verilog ``integer`` localparams that read
    them (so verilator sees no width change)."""
    return packed_hex(values, TABLE_FIELD_BITS)


def _tree_widths(ranges: list[tuple[int, int]]) -> tuple[list[int], tuple[int, int]]:
    """Widths of the adders of the heap-ordered tree over leaves with exact ``ranges`` (leaf i is node n-1+i,
    node j = node 2j+1 + node 2j+2, as the templates build it), padded to one field per leaf, and the root's range."""
    n = len(ranges)
    node: list[tuple[int, int]] = [(0, 0)] * (n - 1) + list(ranges)
    for j in range(n - 2, -1, -1):
        (llo, lhi), (rlo, rhi) = node[2 * j + 1], node[2 * j + 2]
        node[j] = (llo + rlo, lhi + rhi)
    widths = [fixed.bits_for_range(*node[j], signed=True) for j in range(n - 1)] + [0]
    return widths, node[0]


def _layout(live: np.ndarray, term_range: Callable[[int, int], tuple[int, int]], bias: list[int],
            acc_width: Any, scale: int = 0, extra_width: int = 0) -> _Layout:
    """Lay out the generated terms (``live`` (n_in, n_out)) whose exact ranges ``term_range(i, o)`` gives; each
    output's sum is ``(tree << scale) + bias``.  ``acc_width`` None: the exact width of the widest output sum;
    else it must hold every output's range.  ``extra_width``: the widest other signal (carrier must exceed it)."""
    n_in, n_out = live.shape
    terms: list[tuple[int, int]] = []
    term_w: list[int] = []
    node_w: list[int] = []
    first: list[int] = []
    count: list[int] = []
    sum_w: list[int] = []
    widest = max(extra_width, 1)
    for o in range(n_out):
        inputs = [i for i in range(n_in) if live[i, o]]
        ranges = [term_range(i, o) for i in inputs]
        first.append(len(terms))
        count.append(len(inputs))
        terms += [(i, o) for i in inputs]
        term_w += [fixed.bits_for_range(lo, hi, signed=True) for lo, hi in ranges]
        if inputs:
            widths, (lo, hi) = _tree_widths(ranges)
            node_w += widths
            widest = max(widest, *widths, *term_w[-len(inputs):])
        else:
            lo = hi = 0
        lo, hi = (min(lo, 0) << scale) + bias[o], (max(hi, 0) << scale) + bias[o]
        sum_w.append(fixed.bits_for_range(lo, hi, signed=True))
        widest = max(widest, fixed.bits_for_range(min(lo, 0) - bias[o], max(hi, 0) - bias[o], signed=True))
    need = max(sum_w)
    if acc_width is None:
        acc = need
    else:
        acc = _int_param(acc_width, "acc_width", need, MAX_WIDTH,
                         f"bits of the output accumulator; the exact range of these weights needs {need}")
    widest = max(widest, need, acc, fixed.bits_for_range(min(bias), max(bias), signed=True))
    if widest > MAX_WIDTH:
        raise ArithValueError(f"dot product needs a {widest}-bit signal; at most {MAX_WIDTH} bits are supported")
    return _Layout(terms, term_w, node_w, first, count, sum_w, acc, widest + 1)


def _unit(kind: str, name: str, n_in: int, n_out: int, x_bits: int, x_signed: bool, layout: _Layout,
          bias: list[int], params: dict[str, object], **values: object) -> RtlUnit:
    """The template rendered for terms of ``kind``; ``values``: the kind-specific placeholders it reads (the
    others keep their defaults; ``render`` rejects a name the template does not have)."""
    text = render(TEMPLATE, NAME=name, KIND=kind, TERM_KIND=TERM_KINDS[kind], N_IN=n_in, N_OUT=n_out,
                  X_BITS=x_bits, X_SIGNED=int(x_signed), **layout.values(bias), **{**_KIND_DEFAULTS, **values})
    ports = (Port("x", "input", x_bits, x_signed, n_in), Port("acc", "output", layout.acc_width, True, n_out))
    return RtlUnit(name, text, ports,
                   {"n_in": n_in, "n_out": n_out, "x_bits": x_bits, "x_signed": x_signed,
                    "acc_width": layout.acc_width, "terms": len(layout.terms), "kind": kind, **params})


# ---- the three datapaths ----------------------------------------------------------------------------------------

def pot_dot(shifts: Any, signs: Any, bias: Any, x_bits: int, x_signed: bool, acc_width: int | None = None,
            name: str = "dot_pot") -> RtlUnit:
    """Power-of-two dot product: ``acc[o] = bias[o] + sum_i signs[i, o] * (x[i] << shifts[i, o])``.

    ``shifts``: int (n_in, n_out) in ``0..MAX_SHIFT`` (read only where the sign is not 0); ``signs``: the same
    shape in {-1, 0, +1} (0: no term); ``bias``: n_out integers on the accumulator grid (None: 0);
    ``x_bits`` in 1..64; ``acc_width`` None: the exact width, else at least that (up to ``MAX_WIDTH``).
    """
    sg = _matrix(signs, "signs")
    sh = _matrix(shifts, "shifts", sg.shape)
    _in_range(sg, "signs", -1, 1, "the sign of a power-of-two weight; 0 for a zero weight")
    live = sg != 0
    _in_range(sh[live], "shifts", 0, MAX_SHIFT, "left shift of a term")
    bits, signed, x_lo, x_hi = _x_range(x_bits, x_signed)
    n_in, n_out = sg.shape
    b = _bias(bias, n_out)
    name = check_identifier(name)

    def term_range(i: int, o: int) -> tuple[int, int]:
        ends = sorted(int(sg[i, o]) * (x << int(sh[i, o])) for x in (x_lo, x_hi))
        return ends[0], ends[1]

    layout = _layout(live, term_range, b, acc_width, extra_width=bits + 1)
    return _unit("pot", name, n_in, n_out, bits, signed, layout, b, {},
                 TERM_SHIFT=_table([int(sh[i, o]) for i, o in layout.terms]),
                 TERM_NEG=packed_hex([int(sg[i, o] < 0) for i, o in layout.terms], 1))


def mac_dot(weights: Any, bias: Any, x_bits: int, x_signed: bool, acc_width: int | None = None,
            name: str = "dot_mac") -> RtlUnit:
    """Integer dot product with constant weights: ``acc[o] = bias[o] + sum_i x[i] * weights[i, o]``.

    ``weights``: int (n_in, n_out) codes (0: no term); other parameters as :func:`pot_dot`.  Each term is a
    multiplication by a constant, which synthesis reduces to shifts and adds.
    """
    w = _matrix(weights, "weights")
    bits, signed, x_lo, x_hi = _x_range(x_bits, x_signed)
    n_in, n_out = w.shape
    b = _bias(bias, n_out)
    name = check_identifier(name)
    live = w != 0

    def term_range(i: int, o: int) -> tuple[int, int]:
        ends = sorted(int(w[i, o]) * x for x in (x_lo, x_hi))
        return ends[0], ends[1]

    widest_w = fixed.bits_for_range(int(w.min()), int(w.max()), signed=True)
    layout = _layout(live, term_range, b, acc_width, extra_width=max(bits + 1, widest_w))
    return _unit("mac", name, n_in, n_out, bits, signed, layout, b, {},
                 TERM_WEIGHT=packed_hex([int(w[i, o]) for i, o in layout.terms], layout.carrier))


def roup_dot(operands: Any, act_shifts: Any, weight_shifts: Any, bias: Any, x_bits: int, x_signed: bool,
             requant_shift: int, product_shift: int, acc_width: int | None = None,
             name: str = "dot_roup") -> RtlUnit:
    """ROUP(k, m) dot product with constant weights, the approx kernel's ``accumulate`` in hardware.

    Each input code ``x`` is requantized once to the 8-bit activation ``a`` = ``x`` shifted right by
    ``requant_shift`` (the input's fractional bits minus the activation's; negative: a left shift) rounding half
    up, saturated to -128..127 (``ap_fixed<8, I, AP_RND, AP_SAT>``).  A term (i, o) with operand
    ``b = operands[i, o]`` (the perforated weight ``>> 2k``; 0: no term), ``m = act_shifts[i, o]`` (0..7) and
    ``k = weight_shifts[i, o]`` (0..3) is ``(a_r * b) << (m + 2k)`` with ``a_r = (a >> m) + a[m-1]``;
    ``acc[o] = bias[o] + (sum of its terms << product_shift)``.  Other parameters as :func:`pot_dot`.
    """
    ops = _matrix(operands, "operands")
    ms = _matrix(act_shifts, "act_shifts", ops.shape)
    ks = _matrix(weight_shifts, "weight_shifts", ops.shape)
    _in_range(ops, "operands", -(1 << ACT_BITS), 1 << ACT_BITS, "a perforated 8-bit weight >> 2k")
    live = ops != 0
    _in_range(ms[live], "act_shifts", 0, ROUP_M_MAX, "ROUP m, the activation's rounding bit")
    _in_range(ks[live], "weight_shifts", 0, ROUP_K_MAX, "ROUP k, perforated partial products")
    bits, signed, x_lo, x_hi = _x_range(x_bits, x_signed)
    rq = _int_param(requant_shift, "requant_shift", *REQUANT_SHIFT_RANGE,
                    "input fractional bits minus the 8-bit activation's")
    ps = _int_param(product_shift, "product_shift", 0, MAX_SHIFT, "left shift of the sum onto the accumulator grid")
    n_in, n_out = ops.shape
    b = _bias(bias, n_out)
    name = check_identifier(name)

    # the activation stage, and the reachable activations (the reference's own quantizer sizes it)
    act_type = fixed.FixedType(ACT_BITS, ACT_BITS, True, "AP_RND", "AP_SAT")
    ends = np.array([x_lo, x_hi], dtype=np.int64)
    rounded = [int(v) for v in fixed.shift_round(ends, rq, "AP_RND")]  # before saturation
    a_lo, a_hi = (int(v) for v in fixed.requantize(ends, rq, act_type))
    # >= 9 so the saturation test has bits to look at
    round_bits = max(fixed.bits_for_range(*rounded, signed=True), ACT_BITS + 1)
    saturate = int(rounded[0] < act_type.min_code or rounded[1] > act_type.max_code)

    def a_round(a: int, m: int) -> int:
        return a if m == 0 else (a >> m) + ((a >> (m - 1)) & 1)

    def product_range(i: int, o: int) -> tuple[int, int]:
        ends = sorted(a_round(a, int(ms[i, o])) * int(ops[i, o]) for a in (a_lo, a_hi))
        return ends[0], ends[1]

    def term_range(i: int, o: int) -> tuple[int, int]:
        lo, hi = product_range(i, o)
        s = int(ms[i, o]) + 2 * int(ks[i, o])
        return lo << s, hi << s

    # the carrier must also hold the rounding stage (its input slice reaches bit round_bits + rq - 1)
    extra = max(bits + 1, round_bits + max(rq, 0) + 1, ACT_BITS + 2, max(-rq, 0) + bits + 1)
    layout = _layout(live, term_range, b, acc_width, scale=ps, extra_width=extra)
    return _unit("roup", name, n_in, n_out, bits, signed, layout, b,
                 {"requant_shift": rq, "product_shift": ps},
                 REQUANT_SHIFT=rq, ROUND_BITS=round_bits, SATURATE=saturate, PRODUCT_SHIFT=ps,
                 TERM_M=_table([int(ms[i, o]) for i, o in layout.terms]),
                 TERM_SHIFT=_table([int(ms[i, o]) + 2 * int(ks[i, o]) for i, o in layout.terms]),
                 TERM_PW=_table([fixed.bits_for_range(*product_range(i, o), signed=True) for i, o in layout.terms]),
                 TERM_WEIGHT=packed_hex([int(ops[i, o]) for i, o in layout.terms], layout.carrier))


__all__ = ["MAX_WIDTH", "mac_dot", "pot_dot", "roup_dot"]
