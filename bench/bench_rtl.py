"""yosys 7-series cell counts of the generated RTL, side by side with its baseline, in one run.

Sections (each also runnable alone):

1. 8x8 multipliers: exact baseline vs the ROUP(k, m) grid (MAx-DNN), with the mean absolute error of each
   unit over all 65,536 operand pairs (this file);
2. constant-weight Dense layers: PoT bitshift-accumulate vs int8 multiply-accumulate, ROUP (``rtl_dense.py``);
3. RNS: modular channels, converters, RNS Dense vs binary Dense (``rtl_rns.py``);
4. (N,k) ternary: group decoder, code ROM + decoder vs dense ternary storage (``rtl_nk.py``);
5. ESSOP update cell vs an exact 8-bit outer-product cell (``rtl_essop.py``).

Every count is yosys ``synth_xilinx -family xc7`` (with ``-nodsp`` where a column says so).

Run: ``.venv/bin/python bench/bench_rtl.py [SECTION ...]`` (needs yosys and iverilog; ``make tools``).
"""
from __future__ import annotations

import os
import sys

from toolchain.arith.approx import ROUPMultiplier, error_metrics, exact_table
from toolchain.errors import Arith4mlError
from toolchain.rtl import CellCount, RtlUnit, exact_multiplier, roup_multiplier
from toolchain.rtl.cost import cost_many
from toolchain.rtl_cost import yosys_version

GRID_K = range(4)
GRID_M = (0, 2, 4, 6)
PAPER_CLAIM = "MAx-DNN (ROUP multipliers): up to 54% multiplier energy saved, at a bounded accuracy loss"
CAVEAT = ("LUT counts are not energy: they are open-source yosys cell counts of one combinational unit "
          "(no placement, no routing, no switching activity, no Vivado); they show which unit is smaller "
          "in 7-series fabric, not how many joules it spends per product.")


def multiplier_section() -> str:
    """The (k, m) grid of ROUP multipliers against the exact one."""
    units: list[tuple[str, RtlUnit, float]] = [("exact", exact_multiplier(), error_metrics(exact_table())["mae"])]
    for k in GRID_K:
        for m in GRID_M:
            units.append((f"ROUP({k},{m})", roup_multiplier(k, m), error_metrics(ROUPMultiplier(k, m))["mae"]))
    jobs = [(u, d) for _, u, _ in units for d in (False, True)]
    counts: list[CellCount] = cost_many(jobs)
    by = {(u.name, d): c for (u, d), c in zip(jobs, counts)}
    base = by[(units[0][1].name, False)].lut
    booth = by[(units[1][1].name, False)].lut  # ROUP(0,0): the exact product with the same Booth structure

    lines = ["8x8 signed multipliers, yosys synth_xilinx -family xc7",
             f"{'unit':<12} {'LUT -nodsp':>10} {'CARRY4':>7} {'LUT/exact':>9} {'LUT/Booth':>9} {'DSP48E1':>8} "
          f"{'LUT w/ DSP':>10} {'MAE':>9}"]
    for label, unit, mae in units:
        nd, wd = by[(unit.name, False)], by[(unit.name, True)]
        lines.append(f"{label:<12} {nd.lut:>10} {nd.carry4:>7} {nd.lut / base:>9.2f} {nd.lut / booth:>9.2f} "
              f"{wd.dsp:>8} {wd.lut:>10} {mae:>9.2f}")
    lines += ["", f"paper: {PAPER_CLAIM}", f"note: {CAVEAT}",
              "note: ROUP(0,0) is exact; LUT/Booth compares each ROUP unit with it, which isolates what rounding and "
          "perforation remove, while LUT/exact also credits the Booth structure against yosys's own '*' mapping.",
              "note: without -nodsp yosys maps the exact '*' to one DSP48E1 and builds the ROUP Booth structure "
          "from LUTs, so the DSP columns compare a hard block against fabric, not two designs of one kind."]
    return "\n".join(lines)


SECTIONS = {"multipliers": "bench_rtl:multiplier_section", "dense": "rtl_dense:section", "rns": "rtl_rns:section",
            "nk": "rtl_nk:section", "essop": "rtl_essop:section"}


def main(argv: list[str]) -> int:
    import importlib
    import time

    names = argv or list(SECTIONS)
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        print(f"bench_rtl: unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}",
              file=sys.stderr)
        return 2
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    print(f"yosys: {yosys_version()}")
    for name in names:
        module, func = SECTIONS[name].split(":")
        start = time.perf_counter()
        try:
            text = multiplier_section() if module == "bench_rtl" else getattr(importlib.import_module(module), func)()
        except Arith4mlError as exc:
            print(f"bench_rtl: {exc}", file=sys.stderr)
            return exc.exit_code
        print(f"\n== {name} ({time.perf_counter() - start:.0f} s)\n{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
