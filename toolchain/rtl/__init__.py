"""Verilog generators of the arithmetic units and constant-weight layers, their Icarus simulation, verilator lint
and yosys 7-series costing (docs/rtl.md).

No Keras, no hls4ml imports: the generators take plain parameters and return :class:`RtlUnit`
(module name, Verilog text, ports); :func:`simulate_ports`, :func:`lint` and :func:`cost` run the
open-source tools.  Layers come from the kernels (``Kernel.rtl_layer``), which call the generators of
``dot``, ``rns`` and ``nk``.
"""
from __future__ import annotations

from toolchain.rtl.cost import CellCount, cost, parse_stat
from toolchain.rtl.lint import lint
from toolchain.rtl.multipliers import exact_multiplier, roup_multiplier
from toolchain.rtl.sim import simulate, simulate_ports
from toolchain.rtl.verilog import Port, RtlUnit

__all__ = ["CellCount", "Port", "RtlUnit", "cost", "exact_multiplier", "lint", "parse_stat", "roup_multiplier",
           "simulate", "simulate_ports"]
