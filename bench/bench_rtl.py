"""yosys 7-series cell counts of the generated 8x8 multipliers: exact baseline vs the ROUP(k, m) grid (MAx-DNN).

Prints, per unit: LUTs and CARRY4s with ``synth_xilinx -family xc7 -nodsp`` (the multiplier built from
fabric), the DSP48E1s and LUTs without ``-nodsp`` (what yosys infers by default), the LUT ratios to
the exact multiplier and to ROUP(0,0) (an exact Booth multiplier), and the mean absolute error of
the unit over all 65,536 operand pairs.

Run: ``.venv/bin/python bench/bench_rtl.py`` (needs yosys; ``make tools``).
"""
from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor

from toolchain.arith.approx import ROUPMultiplier, error_metrics, exact_table
from toolchain.errors import Arith4mlError
from toolchain.rtl import CellCount, RtlUnit, cost, exact_multiplier, roup_multiplier

GRID_K = range(4)
GRID_M = (0, 2, 4, 6)
PAPER_CLAIM = "MAx-DNN (ROUP multipliers): up to 54% multiplier energy saved, at a bounded accuracy loss"
CAVEAT = ("LUT counts are not energy: they are open-source yosys cell counts of one combinational unit "
          "(no placement, no routing, no switching activity, no Vivado); they show which unit is smaller "
          "in 7-series fabric, not how many joules it spends per product.")


def main() -> int:
    units: list[tuple[str, RtlUnit, float]] = [("exact", exact_multiplier(), error_metrics(exact_table())["mae"])]
    for k in GRID_K:
        for m in GRID_M:
            units.append((f"ROUP({k},{m})", roup_multiplier(k, m), error_metrics(ROUPMultiplier(k, m))["mae"]))
    jobs = [(u, d) for _, u, _ in units for d in (False, True)]
    try:
        # yosys is single-threaded: one process per job keeps every core busy
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            counts: list[CellCount] = list(pool.map(lambda job: cost(job[0], dsp=job[1]), jobs))
    except Arith4mlError as exc:
        print(f"bench_rtl: {exc}", file=sys.stderr)
        return exc.exit_code
    by = {(u.name, d): c for (u, d), c in zip(jobs, counts)}
    base = by[(units[0][1].name, False)].lut
    booth = by[(units[1][1].name, False)].lut  # ROUP(0,0): the exact product with the same Booth structure

    print("8x8 signed multipliers, yosys synth_xilinx -family xc7")
    print(f"{'unit':<12} {'LUT -nodsp':>10} {'CARRY4':>7} {'LUT/exact':>9} {'LUT/Booth':>9} {'DSP48E1':>8} "
          f"{'LUT w/ DSP':>10} {'MAE':>9}")
    for label, unit, mae in units:
        nd, wd = by[(unit.name, False)], by[(unit.name, True)]
        print(f"{label:<12} {nd.lut:>10} {nd.carry4:>7} {nd.lut / base:>9.2f} {nd.lut / booth:>9.2f} "
              f"{wd.dsp:>8} {wd.lut:>10} {mae:>9.2f}")
    print()
    print(f"paper: {PAPER_CLAIM}")
    print(f"note: {CAVEAT}")
    print("note: ROUP(0,0) is exact; LUT/Booth compares each ROUP unit with it, which isolates what rounding and "
          "perforation remove, while LUT/exact also credits the Booth structure against yosys's own '*' mapping.")
    print("note: without -nodsp yosys maps the exact '*' to one DSP48E1 and builds the ROUP Booth structure "
          "from LUTs, so the DSP columns compare a hard block against fabric, not two designs of one kind.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
