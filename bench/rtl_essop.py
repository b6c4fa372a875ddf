"""yosys 7-series cell counts of the ESSOP update hardware against an exact registered 8x8 outer product.

Units (``toolchain.rtl.essop``, all simulated bit-exact in ``tests/test_rtl_essop.py``):

* ESSOP cell = a 1 x 1 array: two leap-forward LFSRs, two comparators, control, one AND + counter;
* ESSOP 8 x 8 array: the same LFSRs/control, 16 comparators shared along rows and columns, 64 counters
  (the shared part amortised over 64 cells);
* exact cell / 8 x 8 array: registered signed 8x8 multiplies, with ``-nodsp`` (fabric) and with DSP48E1s.

Magnitudes are 8-bit codes (LFSR width 8, codes 0..256) at BL 16 and 64.  Run:
``.venv/bin/python bench/rtl_essop.py`` (needs yosys; ``make tools``).
"""
from __future__ import annotations

from toolchain.essop_hls import essop_cost
from toolchain.rtl.cost import CellCount, cost_many
from toolchain.rtl.essop import essop_array, essop_lfsr, essop_scaler, exact_outer_product
from toolchain.rtl.verilog import RtlUnit

WIDTH = 8  # magnitude code / LFSR width
ARRAY = 8  # n_in = n_out of the array rows
PAPER_CLAIM = ("ESSOP (Joshi et al., arXiv 2003.11256): vs a highly pipelined FP16 multiplier design at 14 nm, "
               "82.2% better energy efficiency and 93.7% better area efficiency for the outer product")
CAVEAT = ("yosys LUT/FF counts are not energy: open-source synthesis cell counts (no placement, routing, "
          "switching activity or Vivado), comparing units with one another under one mapper. The paper's "
          "baseline is an FP16 multiplier in 14 nm ASIC; the baseline costed here is an exact INT8 multiply on "
          "7-series fabric, so these numbers neither confirm nor refute the 82%/93.7% figures.")


def _units() -> list[tuple[str, RtlUnit, bool]]:
    """(label, unit, dsp) per synthesis job."""
    jobs: list[tuple[str, RtlUnit, bool]] = [("LFSR alone (shared part)", essop_lfsr(WIDTH), True)]
    for bl in (16, 64):
        jobs.append((f"ESSOP cell BL{bl}", essop_array(1, 1, bl, WIDTH), True))
        jobs.append((f"ESSOP {ARRAY}x{ARRAY} BL{bl}", essop_array(ARRAY, ARRAY, bl, WIDTH), True))
    jobs.append(("ESSOP cell BL64 W16 (ref)", essop_array(1, 1, 64, 16), True))  # the reference's default registers
    # the per-vector front ends that turn the 8-bit x (unsigned) / delta (signed) codes into magnitude codes
    jobs.append((f"scaler x {ARRAY} x u8", essop_scaler(ARRAY, 8, False, WIDTH), True))
    jobs.append((f"scaler delta {ARRAY} x s8", essop_scaler(ARRAY, 8, True, WIDTH), True))
    for n in (1, ARRAY):
        label = "exact cell" if n == 1 else f"exact {n}x{n}"
        jobs.append((f"{label} -nodsp", exact_outer_product(n, n), False))
        jobs.append((f"{label} DSP", exact_outer_product(n, n), True))
    return jobs


def _energy_model_lines() -> list[str]:
    """The project's operation-count energy model (toolchain.essop_hls.essop_cost) for the same array, for context."""
    lines = []
    for bl in (16, 64):
        c = essop_cost(ARRAY, ARRAY, bl, lfsr_width=WIDTH, x_bits=8, d_bits=8)
        lines.append(f"model (essop_cost, {c.table} cost table, op counts x pJ, not a measurement), {ARRAY}x{ARRAY} "
                     f"BL{bl}: ESSOP {c.essop_pj:.1f} pJ, exact INT8 {c.exact_pj:.1f} pJ, FP16 {c.fp16_pj:.1f} pJ "
                     f"per update ({1 - c.essop_pj / c.fp16_pj:+.0%} saving vs FP16, {c.saving:+.0%} vs INT8).")
    return lines


def section() -> str:
    """Run yosys on every unit (two at a time) and return the comparison as plain text."""
    jobs = _units()
    counts: list[CellCount] = cost_many(((job[1], job[2]) for job in jobs), workers=2)
    lines = [f"ESSOP update hardware vs exact INT8 outer product, yosys synth_xilinx -family xc7, "
             f"{WIDTH}-bit magnitude codes",
             f"{'unit':<26} {'cells':>5} {'LUT':>6} {'CARRY4':>6} {'FF':>6} {'DSP':>4} {'LUT/cell':>8} "
             f"{'FF/cell':>7} {'clk/upd':>7} {'LUT*clk/cell':>12}"]
    for (label, unit, _), c in zip(jobs, counts):
        cells = unit.params.get("n", 1) * unit.params.get("n_in", 1) * unit.params.get("n_out", 1)
        cycles = unit.params.get("cycles_per_update")
        per_lut, per_ff = c.lut / cells, c.ff / cells
        cyc = "-" if cycles is None else str(cycles)
        area_time = "-" if cycles is None else f"{per_lut * cycles:.0f}"
        lines.append(f"{label:<26} {cells:>5} {c.lut:>6} {c.carry4:>6} {c.ff:>6} {c.dsp:>4} {per_lut:>8.1f} "
                     f"{per_ff:>7.1f} {cyc:>7} {area_time:>12}")
    by = {label: c for (label, _, _), c in zip(jobs, counts)}
    cells = ARRAY * ARRAY
    lines.append("")
    for bl in (16, 64):
        one, arr = by[f"ESSOP cell BL{bl}"], by[f"ESSOP {ARRAY}x{ARRAY} BL{bl}"]
        marginal = (arr.lut - one.lut) / (cells - 1)
        lines.append(f"BL{bl}: marginal cost of one more cell in the array (LUT) = ({arr.lut} - {one.lut}) / "
                     f"{cells - 1} = {marginal:.1f}; the LFSRs, control and comparators are shared by a row/column.")
    front = by[f"scaler x {ARRAY} x u8"].lut + by[f"scaler delta {ARRAY} x s8"].lut
    for bl in (16, 64):
        total = by[f"ESSOP {ARRAY}x{ARRAY} BL{bl}"].lut + front
        lines.append(f"BL{bl}: {ARRAY}x{ARRAY} ESSOP from 8-bit codes (array + both scalers) = {total} LUT, "
                     f"{total / cells:.1f} LUT/cell, vs exact {ARRAY}x{ARRAY} -nodsp "
                     f"{by[f'exact {ARRAY}x{ARRAY} -nodsp'].lut} LUT; per update: {total * (bl + 1)} vs "
                     f"{by[f'exact {ARRAY}x{ARRAY} -nodsp'].lut} LUT*clk.")
    lines += [
        "clk/upd: clocks per outer-product update (ESSOP: BL time steps + 1 load; exact: 1, pipelined).",
        "LUT*clk/cell: LUTs per cell times clocks per update, a crude area-time product at equal clock "
        "(ESSOP needs BL+1 times as many cells as the exact array for the same updates per second).",
        "scaler: per-vector leading-one detector + rounding shift (cells = vector elements), shared by a "
        "row or column of the array, like the LFSRs; it can serve every update since it runs in one clock.",
        "LFSR alone: one 8-bit leap-forward register; every ESSOP unit holds two (x and delta). "
        "W16 (ref): 16-bit codes and registers, the reference's defaults.",
        "exact DSP: yosys puts the multiply and its output register into the DSP48E1 (its P register), "
        "so 0 LUT / 0 FF there is real, but a DSP48E1 is a hard block and not comparable to LUTs.",
        "FF: the ESSOP units hold their input codes for the BL steps ((n_in + n_out) * (W + 1) FFs) and signed "
        "counts (log2 BL + 2 FFs per cell); the exact units register only their products.",
        "Not costed: the final shift of the counts onto the weight grid and the weight write-back "
        "(in both designs the weight memory and its adder are outside the unit).",
        *_energy_model_lines(),
        f"paper: {PAPER_CLAIM}",
        f"note: {CAVEAT}",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(section())
