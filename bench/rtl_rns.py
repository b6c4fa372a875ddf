"""yosys 7-series cell counts of the generated RNS hardware, and an RNS Dense layer against the binary one.

Units (``toolchain.rtl.rns``, simulated bit-exact against ``toolchain.arith.rns`` / ``RNSKernel.accumulate`` in
``tests/test_rtl_rns.py``), every count ``synth_xilinx -family xc7 -nodsp``:

1. one modular channel of 16 constant weight residues per modulus kind, n = 5..8;
2. converters for the family (2^n - 1, 2^n, 2^n + 1): forward from a signed 8-bit code, CRT and MRC reverse;
3. RNS Dense (``RNSKernel.rtl_layer``) vs the binary constant-weight multiply-accumulate Dense
   (``KERNELS["mult"].rtl_layer``) of the same plan: 8-bit inputs, 4-bit weights, n_in 4..32 x n_out 4.

``cost`` synthesises with ``-flatten``, so a unit's sub-modules (reductions, converters, channels) are counted.
Run: ``.venv/bin/python bench/rtl_rns.py`` (needs yosys; ``make tools``).
"""
from __future__ import annotations

import numpy as np

from toolchain.arith.fixed import FixedType
from toolchain.errors import UnsupportedError
from toolchain.kernels import KERNELS
from toolchain.kernels.plan import Geometry, build_plan, dot_core
from toolchain.rtl.cost import CellCount, cost_many
from toolchain.rtl.rns import rns_channel, rns_forward, rns_reverse
from toolchain.rtl.verilog import RtlUnit

CHANNEL_N = (5, 6, 7, 8)
CHANNEL_TERMS = 16
LAYER_N_IN = (4, 8, 16, 32)
LAYER_N_OUT = 4
X_TYPE = FixedType(8, 3, True)
PAPER_CLAIM = ("RNS for DNN accelerators: residue channels are short and carry-free between channels, so they trade "
               "converter area for shorter critical paths (speed); a residue regularizer drives weight residues to "
               "zero so that those terms generate no hardware")
CAVEAT = ("yosys LUT/CARRY4 counts are not energy: open-source synthesis cell counts of combinational units (no "
          "placement, routing, switching activity, timing or Vivado); they compare area under one mapper, and "
          "say nothing about the speed side of the RNS trade.")
BASELINE_MISSING = "binary baseline not available yet"


def _layer_plans() -> list:
    """One plan per n_in: 4-bit weight codes (seeded), a bias, the default RNS moduli."""
    plans = []
    for n_in in LAYER_N_IN:
        rng = np.random.default_rng(n_in)
        w = rng.integers(-8, 8, (n_in, LAYER_N_OUT)) / 4.0
        core = dot_core("fc", Geometry(n_chan=n_in), X_TYPE, w, rng.integers(-64, 64, LAYER_N_OUT) / 16.0)
        plans.append((build_plan(core, KERNELS["rns"], {}), build_plan(core, KERNELS["mult"], {})))
    return plans


def _jobs() -> list[tuple[str, RtlUnit | None]]:
    jobs: list[tuple[str, RtlUnit | None]] = []
    for n in CHANNEL_N:
        for m in (2**n - 1, 2**n, 2**n + 1):
            weights = np.random.default_rng(m).integers(1, m, CHANNEL_TERMS)
            jobs.append((f"channel m={m}", rns_channel(m, weights)))
    for n in CHANNEL_N:
        family = (2**n - 1, 2**n, 2**n + 1)
        jobs.append((f"forward n={n}", rns_forward(family, 8)))
        jobs.append((f"crt n={n}", rns_reverse(family, "crt")))
        jobs.append((f"mrc n={n}", rns_reverse(family, "mrc")))
    for (rns_plan, mult_plan), n_in in zip(_layer_plans(), LAYER_N_IN):
        jobs.append((f"rns dense {n_in}", rns_plan.kernel.rtl_layer(rns_plan, f"rns_dense_{n_in}")))
        try:
            binary = mult_plan.kernel.rtl_layer(mult_plan, f"bin_dense_{n_in}")
        except UnsupportedError:
            binary = None
        jobs.append((f"binary dense {n_in}", binary))
    return jobs


def section() -> str:
    """Run yosys on every unit (two at a time) and return the tables as plain text."""
    jobs = _jobs()
    present = [(label, unit) for label, unit in jobs if unit is not None]
    by: dict[str, CellCount | None] = {label: None for label, _ in jobs}
    by.update(zip((label for label, _ in present), cost_many(((unit, False) for _, unit in present), workers=2)))
    lines = ["RNS hardware, yosys synth_xilinx -family xc7 -nodsp (LUT / CARRY4)",
             "",
             f"1. one channel, {CHANNEL_TERMS} non-zero constant weight residues, sum reduced modulo m",
             f"{'n':>3} {'2^n-1':>12} {'2^n':>12} {'2^n+1':>12}"]
    for n in CHANNEL_N:
        cells = [by[f"channel m={m}"] for m in (2**n - 1, 2**n, 2**n + 1)]
        lines.append(f"{n:>3} " + " ".join(f"{c.lut:>6} / {c.carry4:<3}" for c in cells))
    lines += ["", "2. converters of the family (2^n-1, 2^n, 2^n+1)",
              f"{'n':>3} {'forward s8':>12} {'CRT':>12} {'MRC':>12}"]
    for n in CHANNEL_N:
        cells = [by[f"{k} n={n}"] for k in ("forward", "crt", "mrc")]
        lines.append(f"{n:>3} " + " ".join(f"{c.lut:>6} / {c.carry4:<3}" for c in cells))
    lines += ["", f"3. Dense layer, int8 inputs, 4-bit weights (seeded), n_out = {LAYER_N_OUT}, one output pixel",
              f"{'n_in':>5} {'moduli':>16} {'rev':>4} {'0-res':>6} {'RNS LUT/C4':>12} {'binary LUT/C4':>14} "
              f"{'RNS/binary':>10}"]
    breakeven = []
    for (rns_plan, _), n_in in zip(_layer_plans(), LAYER_N_IN):
        r, b = by[f"rns dense {n_in}"], by[f"binary dense {n_in}"]
        zeros = 1 - rns_plan.generated_terms / rns_plan.dense_terms
        moduli = ",".join(map(str, rns_plan.encoding.moduli))
        bin_text = BASELINE_MISSING if b is None else f"{b.lut:>6} / {b.carry4:<5}"
        ratio = "-" if b is None else f"{r.lut / b.lut:.2f}"
        lines.append(f"{n_in:>5} {moduli:>16} {rns_plan.encoding.reverse:>4} {zeros:>6.0%} "
                     f"{r.lut:>5} / {r.carry4:<4} {bin_text:>14} {ratio:>10}")
        if b is not None and r.lut < b.lut:
            breakeven.append(n_in)
    for (rns_plan, _), n_in in zip(_layer_plans(), LAYER_N_IN):
        moduli = rns_plan.encoding.moduli
        n = (moduli[1]).bit_length() - 1
        if moduli == (2**n - 1, 2**n, 2**n + 1) and n in CHANNEL_N and rns_plan.encoding.reverse == "crt":
            fwd, crt, b = by[f"forward n={n}"].lut, by[f"crt n={n}"].lut, by[f"binary dense {n_in}"]
            conv = n_in * fwd + LAYER_N_OUT * crt
            versus = "" if b is None else f" (binary layer: {b.lut})"
            lines.append(f"n_in {n_in}: converters alone, from table 2, {n_in} x forward + {LAYER_N_OUT} x CRT = "
                         f"{conv} LUT{versus}; the channels take the rest of {by[f'rns dense {n_in}'].lut}")
    pairs = list(zip(LAYER_N_IN, LAYER_N_IN[1:]))
    for kind in ("rns", "binary"):
        if all(by[f"{kind} dense {n}"] is not None for n in LAYER_N_IN):
            marginal = [(by[f"{kind} dense {b}"].lut - by[f"{kind} dense {a}"].lut) / ((b - a) * LAYER_N_OUT)
                        for a, b in pairs]
            lines.append(f"{kind}: LUTs per added weight term between the sizes "
                         f"({', '.join(f'{a}->{b}' for a, b in pairs)}): "
                         f"{', '.join(f'{v:.1f}' for v in marginal)}")
    if any(by[f"binary dense {n}"] is None for n in LAYER_N_IN):
        lines.append(f"break-even: {BASELINE_MISSING}.")
    elif breakeven:
        lines.append(f"break-even: the RNS layer uses fewer LUTs than the binary one from n_in = {breakeven[0]} "
                     f"(smaller at n_in in {breakeven}).")
    else:
        lines.append(f"break-even: none in n_in {LAYER_N_IN[0]}..{LAYER_N_IN[-1]}: the RNS layer needs more LUTs "
                     "than the binary one at every size measured.")
    lines += [
        "0-res: fraction of (weight, modulus) residues that are 0 and generate no term (random weights, no "
        "residue regularizer: only zero weights and residues that happen to be 0).",
        "channels: a constant product is shift-and-add over the weight residue's set bits; for 2^n-1 the shifts "
        "are rotations (wires), for 2^n everything is n bits wide, for 2^n+1 the sum is lazy (binary) and reduced "
        "once (as nnet_rns.h does).  The RNS layer converts each input once per modulus and has one reverse "
        "converter per output, so the converters are a fixed cost the channels must amortise.",
        "checked in yosys by tests/test_rtl_rns.py: a channel with zero weight residues costs exactly what the "
        "channel without those terms costs.",
        f"paper: {PAPER_CLAIM}",
        f"note: {CAVEAT}",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(section())
