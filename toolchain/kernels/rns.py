"""Residue number system layers (``Arithmetic: rns``): ``nnet::arith::rns``.

Per layer, pairwise-coprime moduli whose product ``M`` covers the exact
accumulator (``M > 2 max|dot|``); each weight code is held as its residues, each
channel computes a modular dot product in which a zero weight residue generates
no term, and CRT or mixed-radix conversion returns to binary for the bias, the
accumulator grid and the result cast (docs/arithmetic.md, "Residue number system").
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from toolchain.arith import rns
from toolchain.errors import ArithValueError
from toolchain.kernels.base import Kernel, Option, WeightArray
from toolchain.kernels.fold import Fold, fold_order
from toolchain.kernels.plan import DotCore, DotPlan

if TYPE_CHECKING:
    from toolchain.rtl.verilog import RtlUnit

CONFIG_TEMPLATE = """struct config{index} : nnet::arith::rns_config {{
{dot_config}
    typedef nnet::arith::moduli_list<{moduli}> rns_base; // every conversion constant follows from the moduli
    static const bool use_crt = {use_crt};
    static const int post_shift = {post_shift};
    typedef {residue_t} residue_t;
}};
"""
LAZY_LIMIT = 2**62  # bound of a channel's binary sum of residue products before it is reduced (C++ lazy_terms)


def lazy_terms(m: int, terms: int) -> tuple[int, int]:
    """(G, bound): a channel of modulus ``m`` adds at most G of a fold step's ``terms`` residue products in binary
    before one reduction, so the sum stays in ``[0, bound]``, ``bound = (m - 1) + G (m - 1)**2 <= 2**62``
    (C++ ``lazy_terms<M, fold_in>``); G = ``terms`` unless the modulus is very wide."""
    product = (m - 1) ** 2
    limit = terms if product == 0 else (LAZY_LIMIT - (m - 1)) // product
    group = max(1, min(limit, terms))
    return group, (m - 1) + group * product


def check_reverse(value: Any) -> str:
    name = str(value).lower()
    if name not in rns.REVERSE_CONVERSIONS:
        raise ArithValueError(f"Reverse '{value}' is not a reverse conversion; choose crt (Chinese remainder) or "
                              "mrc (mixed radix)", key="Reverse")
    return name


def _moduli_check(key: str):
    def check(value: Any) -> tuple[int, ...]:
        try:
            return tuple(int(m) for m in rns.validate_moduli(value))
        except ArithValueError as exc:
            raise ArithValueError(str(exc), key=key) from None
    return check


MODULI_OPTION = Option("moduli", "Moduli", "RNS moduli (pairwise coprime) that must cover the layer's "
                       "accumulator; default: the smallest {2^n-1, 2^n, 2^n+1} that does",
                       check=_moduli_check("Moduli"))
BASE_MODULI_OPTION = Option("base_moduli", "BaseModuli", "RNS moduli to start from (e.g. those a residue "
                            "regularizer trained for), extended per layer by 2^n-1/2^n/2^n+1 moduli where they do "
                            "not cover its accumulator", check=_moduli_check("BaseModuli"))
REVERSE_OPTION = Option("reverse", "Reverse", "RNS reverse conversion: crt (Chinese remainder) or mrc "
                        "(mixed radix)", choices=rns.REVERSE_CONVERSIONS, default="crt", check=check_reverse)


@dataclass(frozen=True)
class RNSEncoding:
    moduli: tuple[int, ...]
    reverse: str  # 'crt' or 'mrc'
    residues: np.ndarray  # int64 (n_mod, n_in, n_out): |w|_m per modulus
    base: tuple[int, ...] | None = None  # BaseModuli the moduli extend, if any


def _ull(values: list[int]) -> str:
    return ", ".join(f"{v}ULL" for v in values)


class RNSKernel(Kernel):
    name = "rns"
    arithmetic = "rns"
    header = "nnet_utils/nnet_rns.h"
    config_template = CONFIG_TEMPLATE
    cpp_kernel = "nnet::arith::rns_kernel"
    options = (MODULI_OPTION, BASE_MODULI_OPTION, REVERSE_OPTION)
    multiplies = True  # residue by residue, n-bit

    def encode(self, core: DotCore, options: Mapping[str, Any]) -> RNSEncoding:
        max_dot = core.exact_bounds[2]
        moduli, base = options.get("moduli"), options.get("base_moduli")
        if moduli is not None:
            base = None  # Moduli wins over BaseModuli
            try:
                rns.check_range(moduli, max_dot)
            except ArithValueError as exc:
                raise ArithValueError(str(exc), key="Moduli") from None
        elif base is not None:
            try:
                moduli = rns.extend_moduli(base, max_dot)
            except ArithValueError as exc:
                raise ArithValueError(str(exc), key="BaseModuli") from None
        else:
            moduli = rns.select_moduli(max_dot)
        moduli = tuple(int(m) for m in moduli)
        if max(moduli) > rns.MAX_HW_MODULUS:
            raise ArithValueError(f"modulus {max(moduli)} in {moduli} is wider than the residue datapath supports "
                                  f"(at most 2**31 + 1: a residue product must fit 64 bits)", key="Moduli")
        if rns.dynamic_range(moduli) > rns.MAX_DYNAMIC_RANGE:  # the reference's int64 conversions, the C++ tables
            raise ArithValueError(f"moduli {moduli} give M={rns.dynamic_range(moduli)}, above the 2**62 this "
                                  "toolchain supports; choose smaller moduli", key="Moduli")
        return RNSEncoding(moduli=moduli, reverse=options.get("reverse") or REVERSE_OPTION.default, base=base,
                           residues=np.stack([np.mod(core.w_codes, np.int64(m)) for m in moduli]))

    def accumulate(self, plan: DotPlan, cols: np.ndarray) -> np.ndarray:
        """The C++ datapath step by step: forward conversion by chunk folding of the input codes (signed, one
        more bit for an unsigned type), per channel and fold step the binary sum of residue products in groups
        of ``lazy_terms`` reduced by the modulus' own reduction (starting from the channel register), then the
        division-free CRT or mixed-radix conversion (``toolchain.arith.rns``)."""
        enc: RNSEncoding = plan.encoding
        cols = np.asarray(cols, dtype=np.int64)
        width = plan.x_type.width + (0 if plan.x_type.signed else 1)
        fold = plan.schedule
        registers = []
        for j, m in enumerate(enc.moduli):
            x_res = rns.to_residue_fold(cols, width, m)
            group, bound = lazy_terms(m, fold.fold_in)
            acc = np.zeros((cols.shape[0], plan.n_out), dtype=np.int64)
            for ri in range(fold.in_steps):
                for g0 in range(0, fold.fold_in, group):
                    units = slice(ri * fold.fold_in + g0, ri * fold.fold_in + min(g0 + group, fold.fold_in))
                    acc = rns.reduce_bounded(acc + x_res[:, units] @ enc.residues[j, units], m, bound)
            registers.append(acc)
        reverse = rns.crt_division_free if enc.reverse == "crt" else rns.mrc_division_free
        return reverse(np.stack(registers), enc.moduli) << np.int64(plan.pre_shift)

    def fast_accumulate(self, plan: DotPlan, cols: np.ndarray) -> np.ndarray:
        """The exact product: the residue channels reconstruct it exactly because ``M > 2 max|dot|``
        (``encode`` checks it; a plan that does not cover it takes the per-term path, which wraps as the C++ does)."""
        if rns.dynamic_range(plan.encoding.moduli) > 2 * plan.exact_bounds[2]:
            return super().fast_accumulate(plan, cols)
        return self.accumulate(plan, np.asarray(cols, dtype=np.int64))

    def rtl_layer(self, plan: DotPlan, name: str) -> RtlUnit:
        """Verilog of the layer (``toolchain.rtl.rns.rns_dense``): forward converters on the inputs, per modulus a
        modular channel per output with the constant weight residues (a zero residue generates no term), the
        plan's CRT or mixed-radix reverse converter per output, ``<< pre_shift`` and the bias.  Moduli of another
        kind than 2^n, 2^n - 1, 2^n + 1 (or above 2^16 + 1): UnsupportedError naming the layer."""
        from toolchain.errors import UnsupportedError
        from toolchain.rtl.rns import rns_dense

        enc: RNSEncoding = plan.encoding
        try:
            return rns_dense(enc.residues, enc.moduli, plan.x_type.width, plan.x_type.signed, enc.reverse,
                             plan.pre_shift, plan.bias_acc, plan.acc_type_width, name)
        except ArithValueError as exc:
            raise UnsupportedError(f"layer {plan.layer}: {exc}", layer=plan.layer) from None

    def weight_arrays(self, plan: DotPlan) -> list[WeightArray]:
        """The weight residues in fold order with the channels innermost, ``[ri][d][s][t][j]``: a fold step
        reads one row of ``fold_in x fold_out x n_mod`` residues, every channel's from the same ROM word."""
        enc: RNSEncoding = plan.encoding
        n_mod, fold = len(enc.moduli), plan.schedule
        lanes = np.moveaxis(enc.residues, 0, -1).reshape(plan.n_in, plan.n_out * n_mod)  # [i][o][j]
        rom = fold_order(lanes, Fold(fold.n_units, fold.n_out * n_mod, fold.in_steps, fold.out_steps))
        # the type also holds the activations' residues: size it by the moduli, not by the weights
        return [WeightArray("arith_residue", "awr", "residue_t", rom, signed=False, lo=0, hi=max(enc.moduli) - 1)]

    def config_params(self, plan: DotPlan) -> dict[str, Any]:
        enc: RNSEncoding = plan.encoding
        return {"moduli": _ull(list(enc.moduli)), "use_crt": str(enc.reverse == "crt").lower(),
                "post_shift": plan.pre_shift}

    def generated_terms(self, plan: DotPlan) -> int:
        return int(np.count_nonzero(plan.encoding.residues))

    def dense_terms(self, plan: DotPlan) -> int:
        return plan.n_in * plan.n_out * len(plan.encoding.moduli)

    def report_fields(self, plan: DotPlan) -> dict[str, Any]:
        enc: RNSEncoding = plan.encoding
        sparsity = rns.residue_sparsity(plan.w_codes, enc.moduli)
        return {"moduli": list(enc.moduli), "reverse": enc.reverse,
                "base_moduli": None if enc.base is None else list(enc.base),
                "residue_sparsity": {str(k): float(v) for k, v in sparsity.items()}}

    def report_details(self, plan: DotPlan) -> str:
        fields = self.report_fields(plan)
        text = " ".join(f"{m}:{fields['residue_sparsity'][str(m)]:.2f}" for m in fields["moduli"])
        enc: RNSEncoding = plan.encoding
        if enc.base is not None and enc.moduli != enc.base:
            text += f" (BaseModuli {enc.base} extended to cover the accumulator)"
        return text

    # ---- resource estimate (toolchain.estimate, docs/estimate.md) -------------------------------------------

    def channel_bits(self, plan: DotPlan) -> tuple[int, ...]:
        """Bits of each residue channel's register: a residue modulo m needs bit_length(m - 1) bits (n for 2^n
        and 2^n-1, n+1 for 2^n+1); the channel accumulates modulo m, so its register never grows."""
        return tuple((int(m) - 1).bit_length() for m in plan.encoding.moduli)

    def element_bits(self, plan: DotPlan) -> int:
        """The line buffer and window hold one residue per channel, each in the widest channel's bits (the C++
        element is ``residue_t r[n_mod]`` of ``moduli_list::residue_width``)."""
        return len(plan.encoding.moduli) * max(self.channel_bits(plan))

    def word_bits(self, plan: DotPlan) -> int:
        """A folded ROM word holds one weight's residues, one per channel, in the ROM's residue_t."""
        return self.element_bits(plan)

    def lazy_reduction_cost(self, m: int, bits: int, sum_bits: int) -> tuple[float, int]:
        """(LUTs, DSPs) reducing a lazy channel sum of ``sum_bits`` bits modulo m: 2^n keeps the low n bits (free),
        2^n-1 / 2^n+1 fold its ceil(sum_bits / n) chunks with (n+1)-bit adders and one final correction, another
        modulus a Barrett reduction (a sum_bits x (bits + 1) multiplier, a subtraction and a correction)."""
        from toolchain import estimate as est

        kind, n, _ = rns.modulus_kind(m)
        if kind == "pow2":
            return 0.0, 0
        if kind in ("low", "high"):
            chunks = -(-sum_bits // max(n, 1))
            return max(chunks - 1, 0) * est.adder_luts(n + 1) + est.mod_adder_luts(n + 1), 0
        lut, dsp = est.multiplier(sum_bits, bits + 1)
        return lut + est.mod_adder_luts(bits + 1), dsp

    def forward_cost(self, m: int, bits: int, x_bits: int, signed: bool) -> tuple[float, int]:
        """(LUTs, DSPs) of converting one x_bits-wide input code to its residue modulo m by folding n-bit chunks:
        2^n keeps the low n bits (free), 2^n-1 adds the ceil(x_bits / n) chunks with end-around carry, 2^n+1 adds
        and subtracts them alternately ((n+1)-bit modular adders); a signed code adds the sign bit's weight
        modulo m; another modulus takes a Barrett reduction of the whole code."""
        from toolchain import estimate as est

        kind, n, _ = rns.modulus_kind(m)
        adds = max(-(-x_bits // max(n, 1)) - 1 + int(signed), 0)
        if kind == "pow2":
            return 0.0, 0
        if kind == "low":
            return adds * est.adder_luts(n), 0
        if kind == "high":
            return adds * est.mod_adder_luts(n + 1), 0
        lut, dsp = est.multiplier(x_bits, bits + 1)
        return lut + est.mod_adder_luts(bits + 1), dsp

    def reverse_cost(self, plan: DotPlan) -> float:
        """LUTs of one output's reverse conversion (CRT; MRC is costed the same): per channel the constant product
        c_j x y_j by shift-and-add (an adder of log2(M) + n_j bits per extra CSD digit of c_j), the sum of the
        products, its reduction modulo M (quotient times M by shift-and-add, a subtraction and a correction),
        the signed reading (values >= M/2 minus M) and the bias add on the binary accumulator."""
        from toolchain import estimate as est

        moduli = plan.encoding.moduli
        big_m = rns.dynamic_range(moduli)
        width, extra = big_m.bit_length(), sum(moduli).bit_length()
        lut = sum(est.const_mult_luts((big_m // m) * pow(big_m // m, -1, m) % big_m, width + bits)
                  for m, bits in zip(moduli, self.channel_bits(plan)))
        lut += (len(moduli) - 1) * est.adder_luts(width + extra)
        lut += est.const_mult_luts(big_m, width + extra) + est.mod_adder_luts(width + extra)
        return lut + est.mod_adder_luts(width) + est.adder_luts(plan.acc_type_width)

    def cost(self, plan: DotPlan, io_type: str = "io_parallel"):
        """Per residue channel and term an n x n residue multiplier and an adder of the channel's lazy-sum width
        (bits of ``lazy_terms``' bound; Latency: the channel's non-zero residues; folded: ``terms_per_step`` in
        every channel); per channel, output and group of ``lazy_terms`` products of a fold step one reduction of
        that sum back to n(+1) bits (``lazy_reduction_cost``); per channel the forward conversion of each input
        value as the frames of nnet_arith_common.h encode it (io_stream convolution: the n_chan values of a pixel
        entering the line buffer, which holds residues; io_stream Dense: its n_in inputs; io_parallel: the whole
        input frame, encoded once); one reverse converter per output (Latency: the result loop is unrolled) or one
        shared by all outputs (folded: one result per cycle); one channel register of bit_length(m - 1) bits
        per residue and output."""
        from toolchain import estimate as est

        enc: RNSEncoding = plan.encoding
        widths = self.channel_bits(plan)
        fold, folded = plan.schedule, est.folded(plan)
        g = plan.geometry
        if io_type == "io_stream" and g.in_height * g.in_width > 1:
            n_forward = g.n_chan  # one pixel's beat, encoded as it enters the line buffer
        elif io_type == "io_stream":
            n_forward = plan.n_in  # Dense: its input beats (hls4ml streams a flat vector as one beat)
        else:
            n_forward = g.in_height * g.in_width * g.n_chan  # io_parallel encodes the whole frame once (unrolled)
        lut, dsp, units, notes = 0.0, 0, 0, []
        for m, bits, residues in zip(enc.moduli, widths, enc.residues):
            n_units = fold.terms_per_step if folded else int(np.count_nonzero(residues))
            group, bound = lazy_terms(int(m), fold.fold_in)
            sum_bits = bound.bit_length()
            n_reductions = (fold.fold_out if folded else plan.n_out) * -(-fold.fold_in // group)
            m_lut, m_dsp = est.multiplier(bits, bits)
            r_lut, r_dsp = self.lazy_reduction_cost(m, bits, sum_bits)
            f_lut, f_dsp = self.forward_cost(m, bits, plan.x_type.width, plan.x_type.signed)
            lut += n_units * (m_lut + est.adder_luts(sum_bits)) + n_reductions * r_lut + n_forward * f_lut
            dsp += n_units * m_dsp + n_reductions * r_dsp + n_forward * f_dsp
            units += n_units
            if rns.modulus_kind(m).kind == "generic":
                notes.append(f"modulus {m} reduces with Barrett: slower and larger than 2^n±1")
        # Latency: the result of every output at once; folded: one shared converter, one output per cycle
        lut += (1 if folded else plan.n_out) * self.reverse_cost(plan)
        if enc.reverse != "crt":
            notes.append("mixed-radix reverse conversion costed as CRT")
        return est.KernelCost(units=units, lut=lut, dsp=dsp, word_bits=sum(widths),
                              register_bits=plan.n_out * sum(widths), register_widths=widths, notes=tuple(notes))


    # ---- energy estimate (toolchain.energy, docs/estimate.md "Energy") ---------------------------------------

    def operations(self, plan: DotPlan):
        """Per output pixel: per channel one ``mod_mac`` (n x n residue multiply + modular add) per non-zero
        weight residue (the lazy binary sum and its reduction once per group of products are priced as that
        modular add); per output one reverse conversion (``reverse_ops``); the weight ROM reads when folded."""
        from toolchain.energy import Op, merge

        enc: RNSEncoding = plan.encoding
        ops = [Op("mod_mac", (int(m),), int(np.count_nonzero(res))) for m, res in zip(enc.moduli, enc.residues)]
        return merge(ops + merge(self.reverse_ops(plan), plan.n_out) + self.weight_rom_ops(plan))

    def frame_operations(self, plan: DotPlan):
        """Each input value of the frame is converted to residues once (the frames of nnet_arith_common.h encode
        it as it enters: io_parallel the whole frame, io_stream each pixel's beat), by ``forward_ops``."""
        from toolchain.energy import merge

        g = plan.geometry
        return merge(self.forward_ops(plan), g.in_height * g.in_width * g.n_chan)

    def forward_ops(self, plan: DotPlan):
        """Operations converting one input code to every channel's residue (C++ ``to_residue_fold``): the chunk
        fold of the code's W bits (``_reduce_ops``), and for a signed code one modular subtract of ``|2^W|_m``
        when the sign bit is set (none for 2^n moduli, where it is 0)."""
        from toolchain.energy import Op

        width = plan.x_type.width + (0 if plan.x_type.signed else 1)
        ops = []
        for m in (int(v) for v in plan.encoding.moduli):
            ops += _reduce_ops(m, width)
            if plan.x_type.signed and rns.modulus_kind(m).kind != "pow2":
                ops.append(Op("mod_add", (m,), 1))
        return ops

    def reverse_ops(self, plan: DotPlan):
        """Operations of one output's reverse conversion, counted from nnet_rns.h, constant products as
        shift-and-add (one ``shift_add`` per extra canonical-signed-digit of the constant).

        CRT (``reverse_crt``): per channel ``|y_j inv_j|_{m_j}`` (a constant product of 2n bits and its reduction)
        and ``M_j z_j`` (a constant product of log2(M) + n bits); the n_mod - 1 adds of the sum; crt_steps =
        bit_length(n_mod - 1) compare-and-subtract steps; the signed reading (a compare and a subtract); the bias
        add.  MRC (``reverse_mrc``): per digit j and earlier digit i, the reduction of d_i modulo m_j (when m_i >
        m_j), a modular subtract and a constant modular product; Horner's n_mod - 1 constant products and adds;
        the signed reading and the bias add."""
        from toolchain.energy import Op
        from toolchain.estimate import csd_digits

        enc: RNSEncoding = plan.encoding
        moduli = [int(m) for m in enc.moduli]
        widths = self.channel_bits(plan)
        big_m = rns.dynamic_range(moduli)
        width = big_m.bit_length()
        ops: list = []

        def const_product(constant: int, bits: int) -> list:
            return [Op("shift_add", (bits,), max(csd_digits(constant) - 1, 0))]

        if enc.reverse == "crt":
            for m, n in zip(moduli, widths):
                weight = big_m // m
                ops += const_product(pow(weight % m, -1, m), 2 * n) + _reduce_ops(m, 2 * n)
                ops += const_product(weight, width + n)
            sum_width = (len(moduli) * big_m).bit_length()
            steps = (len(moduli) - 1).bit_length()
            ops += [Op("add", (sum_width,), len(moduli) - 1), Op("compare", (sum_width,), steps),
                    Op("add", (sum_width,), steps)]
        else:
            for j, (mj, nj) in enumerate(zip(moduli, widths)):
                for i in range(j):
                    if moduli[i] - 1 >= mj:
                        ops += _reduce_ops(mj, widths[i])
                    ops.append(Op("mod_add", (mj,), 1))
                    ops += const_product(pow(moduli[i] % mj, -1, mj), 2 * nj) + _reduce_ops(mj, 2 * nj)
            for j in range(len(moduli) - 1):
                bits = (math.prod(moduli[j:]) - 1).bit_length()
                ops += const_product(moduli[j], bits) + [Op("add", (bits,), 1)]
        ops += [Op("compare", (width,), 1), Op("add", (width,), 1), Op("add", (plan.acc_type_width + 1,), 1)]
        return ops


def _reduce_ops(m: int, bits: int) -> list:
    """Operations reducing a ``bits``-bit value modulo m (C++ ``reducer``): 2^n truncates (none); 2^n-1 and
    2^n+1 add its ceil(bits / n) n-bit chunks ((n+1)-bit adds, end-around or alternating) and finish with one
    conditional subtract (a ``mod_add``); another modulus takes a Barrett reduction."""
    from toolchain.energy import Op

    kind, n, _ = rns.modulus_kind(m)
    if kind == "pow2" or bits < (m - 1).bit_length():
        return []
    if kind == "generic":
        return [Op("barrett", (m, bits), 1)]
    chunks = -(-bits // max(n, 1))
    return [Op("add", (n + 1,), chunks - 1), Op("mod_add", (m,), 1)]


KERNEL = RNSKernel()
