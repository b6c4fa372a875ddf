"""Verilog generators of the arithmetic units, their Icarus simulation and their yosys 7-series costing.

No Keras, no hls4ml imports: the generators take plain parameters and return :class:`RtlUnit`
(module name, Verilog text, ports); :func:`simulate` and :func:`cost` run the open-source tools.
"""
from __future__ import annotations

from toolchain.rtl.cost import CellCount, cost, parse_stat
from toolchain.rtl.multipliers import exact_multiplier, roup_multiplier
from toolchain.rtl.sim import simulate
from toolchain.rtl.verilog import Port, RtlUnit

__all__ = ["CellCount", "Port", "RtlUnit", "cost", "exact_multiplier", "parse_stat", "roup_multiplier", "simulate"]
