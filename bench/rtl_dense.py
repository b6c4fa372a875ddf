"""yosys 7-series cell counts of constant-weight Dense layers: PoT bitshift-accumulate vs int8 multiply-accumulate,
and ROUP(k, m) vs the exact MAC, at the same shapes (one output pixel, combinational, every weight a constant).

Weights: random int8 codes (seeded) for the MAC; the same weights PoT-quantized to 4-bit codes
(``toolchain.arith.pot.quantize``: sign + 7 exponent levels + zero) for the bitshift-accumulate layer, and
perforated by ROUP(k, m) for the approximate ones.  Inputs: signed 8-bit codes.  Bias 0.

Run: ``.venv/bin/python bench/rtl_dense.py`` (needs yosys; about two minutes on two cores).
"""
from __future__ import annotations

import numpy as np

from toolchain.arith import pot
from toolchain.arith.approx import roup_round_b
from toolchain.rtl import CellCount, RtlUnit
from toolchain.rtl.cost import cost_many
from toolchain.rtl.dot import mac_dot, pot_dot, roup_dot

SHAPES = ((16, 16), (32, 16))  # (n_in, n_out)
ROUP_SETTINGS = ((1, 2), (2, 3), (2, 5))  # (k, m)
X_BITS = 8
POT_BITS = 4
SEED = 2026
PAPER_CLAIM = ("PoT quantization (bitshift-accumulate): >= 1.4x more energy-efficient than uniform quantisation; "
               "MAx-DNN (ROUP): up to 54% multiplier energy saved")
CAVEAT = ("yosys LUT counts are not energy: they are open-source synth_xilinx cell counts of one combinational "
          "layer (no placement, routing, switching activity or Vivado); they say which layer is smaller in "
          "7-series fabric, not how many joules it spends per inference.")


def layers(n_in: int, n_out: int) -> list[tuple[str, RtlUnit, bool]]:
    """(label, unit, dsp allowed) of every layer costed at one shape."""
    rng = np.random.default_rng(SEED + n_in * 100 + n_out)
    w8 = rng.integers(-128, 128, (n_in, n_out))
    codes = pot.quantize(w8 / 128.0, POT_BITS, max_exp=0)  # exponents -6..0, a zero level
    e_min, _ = pot.exponent_range(POT_BITS, 0)
    shifts = np.where(codes.zero, 0, codes.exponent.astype(np.int64) - e_min)
    signs = np.where(codes.zero, 0, np.where(codes.sign == 1, -1, 1))
    bias = np.zeros(n_out, dtype=np.int64)
    tag = f"{n_in}x{n_out}"
    mac = mac_dot(w8, bias, X_BITS, True, name=f"mac_{tag}")
    out = [("int8 MAC", mac, False), ("int8 MAC", mac, True),
           (f"PoT{POT_BITS} BAC", pot_dot(shifts, signs, bias, X_BITS, True, name=f"pot_{tag}"), False)]
    for k, m in ROUP_SETTINGS:
        ops = roup_round_b(w8, k) >> (2 * k)
        full = np.full(w8.shape, 1)
        unit = roup_dot(ops, full * m, full * k, bias, X_BITS, True, 0, 0, name=f"roup_k{k}_m{m}_{tag}")
        out.append((f"ROUP({k},{m})", unit, False))
    return out


def section() -> str:
    """The table of every shape's layers, their ratios to the MAC, the paper's claims and the caveat."""
    jobs = [(shape, label, unit, dsp) for shape in SHAPES for label, unit, dsp in layers(*shape)]
    counts: list[CellCount] = cost_many(((job[2], job[3]) for job in jobs), workers=2)
    lines = ["Constant-weight Dense layers (one output pixel, combinational), yosys synth_xilinx -family xc7",
             f"inputs: signed {X_BITS}-bit codes; weights: random int8 codes (seed {SEED}), PoT: the same weights as "
             f"{POT_BITS}-bit PoT codes (pot.quantize, max_exp 0), ROUP(k,m): perforated/rounded",
             f"{'shape':<6} {'layer':<12} {'synth':<6} {'terms':>5} {'LUT':>6} {'CARRY4':>6} {'DSP':>4} "
             f"{'LUT/MAC':>7} {'MAC/this':>8}"]
    mac_lut: dict[tuple[int, int], int] = {}
    for (shape, label, unit, dsp), c in zip(jobs, counts):
        if label == "int8 MAC" and not dsp:
            mac_lut[shape] = c.lut
    for (shape, label, unit, dsp), c in zip(jobs, counts):
        base = mac_lut[shape]
        ratio = f"{c.lut / base:>7.2f}" if not dsp else f"{'-':>7}"
        inverse = f"{base / c.lut:>8.2f}" if not dsp and c.lut else f"{'-':>8}"
        lines.append(f"{shape[0]}x{shape[1]:<3} {label:<12} {'dsp' if dsp else 'nodsp':<6} {unit.params['terms']:>5} "
                     f"{c.lut:>6} {c.carry4:>6} {c.dsp:>4} {ratio} {inverse}")
    lines += ["", f"paper: {PAPER_CLAIM}",
              "measured: the MAC/this column is the LUT ratio of the int8 MAC layer (-nodsp) to each layer; "
              "a LUT ratio is an area figure, not the paper's energy ratio.",
              f"note: {CAVEAT}",
              "note: every weight is a constant, so yosys reduces each multiplication to shifts and adds of the "
              "weight's set bits (yosys 0.23 does not recode constants: x*127 costs ~36 LUTs where 128x - x would "
              "be one subtractor), so the MAC baseline is yosys's mapping, likely larger than Vivado's; a layer "
              "whose weights arrive at run time (folded, from a ROM) needs real multipliers "
              "(toolchain.rtl.exact_multiplier / roup_multiplier), a different comparison.",
              "note: 'terms' counts the generated terms (a zero weight, or a ROUP weight perforated to 0, generates "
              "none).  PoT4 and ROUP compute approximations of the int8 layer (other weights or products): "
              "accuracy is not measured here."]
    return "\n".join(lines)


if __name__ == "__main__":
    print(section())
