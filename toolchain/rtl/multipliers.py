"""Verilog generators of the 8x8 signed multipliers: the exact baseline and ROUP(k, m) (MAx-DNN).

Both are combinational modules with ports ``a`` and ``b`` (signed ``[bits-1:0]``) and ``p``
(signed ``[2*bits-1:0]``).  The ROUP unit is the hardware the bit-level model
:func:`toolchain.arith.approx.booth_multiply` describes (rounded activation, radix-4 Booth
encoder, ``k`` perforated partial products, shifted sum), not a table; its simulation over all
65,536 operand pairs equals :func:`toolchain.arith.approx.roup` (``tests/test_rtl_multipliers.py``).
"""
from __future__ import annotations

from typing import Any

from toolchain.errors import ArithValueError
from toolchain.rtl.verilog import Port, RtlUnit, check_identifier, int_param, render

# Only 8-bit operands are modelled by toolchain.arith.approx's multipliers and verified exhaustively.
SUPPORTED_BITS = (8,)


def _check_bits(bits: Any) -> int:
    if isinstance(bits, bool) or not isinstance(bits, int) or bits not in SUPPORTED_BITS:
        raise ArithValueError(f"multiplier operand width bits={bits!r} is not supported; valid: "
                              f"{', '.join(map(str, SUPPORTED_BITS))}")
    return bits


def _ports(bits: int) -> tuple[Port, ...]:
    return (Port("a", "input", bits), Port("b", "input", bits), Port("p", "output", 2 * bits))


def exact_multiplier(bits: int = 8, name: str | None = None) -> RtlUnit:
    """The exact signed ``bits x bits`` multiplier ``p = a * b`` (baseline for costing)."""
    bits = _check_bits(bits)
    name = check_identifier(name or f"mult_exact_{bits}")
    return RtlUnit(name, render("exact_mult.v", NAME=name, BITS=bits), _ports(bits), {"bits": bits})


def roup_multiplier(k: int, m: int, bits: int = 8, name: str | None = None) -> RtlUnit:
    """ROUP(k, m): rounded activation, radix-4 Booth weight with the ``k`` low partial products perforated.

    ``k`` in ``0..bits/2-1`` (at least one partial product kept), ``m`` in ``0..bits-1`` (the same
    ranges as :func:`toolchain.arith.approx.valid_roup_params`).  ``roup_multiplier(0, 0)`` is an
    exact radix-4 Booth multiplier.
    """
    bits = _check_bits(bits)
    k = int_param(k, "k", 0, bits // 2 - 1, f"perforated partial products; a {bits}-bit Booth multiplier "
                                            f"has {bits // 2}", "ROUP")
    m = int_param(m, "m", 0, bits - 1, f"rounding bit of the {bits}-bit activation", "ROUP")
    name = check_identifier(name or f"mult_roup_k{k}_m{m}")
    text = render("roup_mult.v", NAME=name, BITS=bits, K=k, M=m)
    return RtlUnit(name, text, _ports(bits), {"bits": bits, "k": k, "m": m})


__all__ = ["SUPPORTED_BITS", "exact_multiplier", "roup_multiplier"]
