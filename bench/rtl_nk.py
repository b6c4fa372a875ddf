"""yosys 7-series cell counts of the (N,k) structured sparse ternary storage against dense 2-bit ternary storage.

Units (``toolchain.rtl.nk``, all simulated bit-exact in ``tests/test_rtl_nk.py``):

* the (8,2) group decoder alone (combinational: an 8-bit code -> 8 weights of 2 bits, the codebook as a table);
* for 256 .. 65,536 weights of a random (8,2)-sparse ternary matrix: a ROM of one 8-bit code per group of
  8 weights followed by the decoder, against a ROM of the same weights at 2 bits per weight; both with one
  registered read port (as a block RAM read is), so yosys may map them to block RAM or to LUTs;
* constant-weight nk Dense layers (``NKKernel.rtl_layer``) of one 32 x 8 weight matrix projected to (8,1), (8,2)
  and (8,4): cells against the number of non-zero weights.

Run: ``.venv/bin/python bench/rtl_nk.py`` (needs yosys; ``make tools``).  About 2 minutes on two cores.
"""
from __future__ import annotations

import math

import numpy as np

from toolchain.arith import ternary
from toolchain.arith.fixed import FixedType
from toolchain.kernels import KERNELS
from toolchain.kernels.plan import Geometry, build_plan, dot_core
from toolchain.rtl.cost import CellCount, cost_many
from toolchain.rtl.nk import dense_ternary_rom, index_bits, nk_code_rom, nk_decoder
from toolchain.rtl.verilog import RtlUnit

N, K = 8, 2
SIZES = (256, 1024, 4096, 16384)  # weights stored
LAYER_SHAPE = (32, 8)  # n_in, n_out of the layer rows
LAYER_K = (1, 2, 4)
SEED = 14
PAPER_CLAIM = ("structured sparse ternary (N,k) coding (Boo & Sung, SiPS 2017) shrinks weight storage to "
               "log2(C(N,k) 2^k) bits per group of N weights")
CAVEAT = ("yosys cell counts are not energy: open-source synthesis of one unit (no placement, routing, timing, "
          "switching activity or Vivado). Whether a ROM becomes LUTs or block RAM is yosys' own choice "
          "(memory_libmap heuristics, one read port); Vivado may choose differently. A BRAM primitive is "
          "counted whole (RAMB18E1 = 18 kbit, RAMB36E1 = 36 kbit) however little of it is used.")


def _weights(groups: int) -> np.ndarray:
    """Group codes of a random (N,K)-sparse ternary matrix with ``groups`` groups (one column)."""
    rng = np.random.default_rng(SEED + groups)
    t = np.sign(ternary.project_nk(rng.normal(size=(N * groups, 1)), N, K)).astype(np.int8)
    return ternary.encode_nk(t, N, K).reshape(-1).astype(np.int64)


def _layers() -> list[RtlUnit]:
    """nk Dense layers of one random normal matrix projected to (8, k): 8-bit signed inputs, weights +-1/4."""
    w = np.random.default_rng(SEED).normal(size=LAYER_SHAPE)
    units = []
    for k in LAYER_K:
        t = np.sign(ternary.project_nk(w, N, k))
        core = dot_core("fc", Geometry(n_chan=LAYER_SHAPE[0]), FixedType(8, 3, True), t / 4.0, None)
        plan = build_plan(core, KERNELS["nk"], {"n_k": (N, k)})
        units.append(plan.kernel.rtl_layer(plan, f"nk_layer_{N}_{k}"))
    return units


def _brams(c: CellCount) -> str:
    parts = [f"{n}x{name[:6]}" for name, n in sorted(c.cells.items()) if name.startswith("RAMB")]
    return "+".join(parts) or "0"


def section() -> str:
    """The decoder's cost, then code ROM + decoder vs dense ternary ROM at each size, with storage bits."""
    decoder = nk_decoder(N, K)
    roms: list[tuple[int, RtlUnit, RtlUnit]] = []
    for size in SIZES:
        groups = size // N
        codes = _weights(groups)
        dense = ternary.decode_nk(codes[None, :], N, K, N).T  # (groups, N)
        roms.append((size, nk_code_rom(codes, N, K, name=f"nk_code_rom_{size}"),
                     dense_ternary_rom(dense, name=f"nk_dense_rom_{size}")))
    layers = _layers()
    units = layers[::-1] + [u for _, c, d in reversed(roms) for u in (c, d)] + [decoder]  # the slowest first
    counts = dict(zip((u.name for u in units), cost_many(((u, True) for u in units), workers=2)))

    bits = index_bits(N, K)
    patterns = ternary.n_patterns(N, K)
    dec = counts[decoder.name]
    lines = [f"(N,k)=({N},{K}) group decoder, yosys synth_xilinx -family xc7 (combinational, codebook as a table)",
             f"  {patterns} patterns, {bits}-bit code -> {N} x 2-bit weights: {dec.lut} LUT "
             f"({', '.join(f'{n} {c}' for c, n in sorted(dec.cells.items()) if c.startswith(('LUT', 'MUXF')))}), "
             f"{dec.ff} FF, {dec.carry4} CARRY4",
             "",
             "weight storage, one registered read port: (N,k) code ROM + decoder vs dense ternary ROM (2 bit/weight)",
             f"{'weights':>7} {'groups':>6} | {'code bits':>9} {'LUT':>5} {'FF':>3} {'BRAM':>10} | "
             f"{'dense bits':>10} {'LUT':>5} {'FF':>3} {'BRAM':>10} | {'bits ratio':>10}"]
    for size, code_rom, dense_rom in roms:
        c, d = counts[code_rom.name], counts[dense_rom.name]
        cb, db = code_rom.params["storage_bits"], dense_rom.params["storage_bits"]
        lines.append(f"{size:>7} {size // N:>6} | {cb:>9} {c.lut:>5} {c.ff:>3} {_brams(c):>10} | "
                     f"{db:>10} {d.lut:>5} {d.ff:>3} {_brams(d):>10} | {cb / db:>10.2f}")
    lines += ["", f"constant-weight nk Dense layers {LAYER_SHAPE[0]} -> {LAYER_SHAPE[1]} (8-bit signed inputs), one "
              "weight matrix projected to (8,k); combinational",
              f"{'(N,k)':>6} {'non-zero':>8} {'LUT':>6} {'CARRY4':>6} {'LUT/non-zero':>12}"]
    for unit in layers:
        c = counts[unit.name]
        terms = unit.params["terms"]
        lines.append(f"{'(%d,%d)' % (N, unit.params['k']):>6} {terms:>8} {c.lut:>6} {c.carry4:>6} "
                     f"{c.lut / max(terms, 1):>12.1f}")
    exact_k = math.log2(math.comb(N, K) << K)
    lines += ["",
              f"paper: {PAPER_CLAIM}: log2(C({N},{K}) 2^{K}) = log2({math.comb(N, K) << K}) = {exact_k:.2f} bits "
              f"per {N} weights ({exact_k / N:.2f} bit/weight) for groups of exactly k non-zeros.",
              f"here: the codebook also holds the groups with fewer non-zeros ({patterns} patterns, log2 = "
              f"{math.log2(patterns):.2f}), stored as whole {bits}-bit codes: {bits / N:.2f} bit/weight, "
              f"{bits / (2 * N):.2f} of the dense 2-bit storage (the 'bits ratio' column; it is exact, not measured).",
              "measured: whether those bits become fewer cells depends on where yosys puts the ROM. In block RAM "
              "the code ROM takes half the RAMB capacity of the dense ROM plus the decoder's LUTs; small ROMs "
              "become LUT logic, where the decoder's fixed cost can outweigh the halved table (see the rows).",
              "note: a constant-weight (unrolled) nk layer (NKKernel.rtl_layer) stores no codes and needs no "
              "decoder: the codes are decoded while the Verilog is elaborated and only the non-zero weights "
              "become adders (tests/test_rtl_nk.py counts one adder per non-zero weight in yosys' elaborated "
              "netlist); its LUTs grow with the non-zero weights (the layer rows), not with the weights stored. "
              "The ROMs above model a folded layer that reads its weights.",
              f"note: {CAVEAT}"]
    return "\n".join(lines)


if __name__ == "__main__":
    print(section())
