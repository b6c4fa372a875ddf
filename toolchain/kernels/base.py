"""The base of every dot-product kernel: what a datapath owns, in one class.

A kernel is one way of computing the terms of a Dense/Conv layer (shift-add,
table-decoded ternary, multiplication, residue channels, ...).  In the manner
of FINN's custom ops, the kernel owns everything that depends on the datapath:

* ``options``: the per-layer config keys it reads (hls4ml layer attributes of
  the backends that offer it);
* ``unsuitable`` / ``encode``: whether the layer's exact integer weight codes
  fit this datapath, and their encoding (shift/sign codes, group codes,
  residues, ...);
* ``bounds``: the exact accumulator range its terms can reach;
* ``accumulate``: the reference accumulation, computed term by term the way the
  C++ does it (the oracle: ``toolchain.reference.predict(..., per_term=True)``);
  ``fast_accumulate``: the same integers, fast (what ``toolchain.reference``
  calls by default; the exact product unless a kernel's terms are not exact);
* ``weight_arrays``: the constant arrays the C++ reads;
* ``header``, ``config_template``, ``cpp_kernel``: its C++ header, config struct template (hls4ml's ``{name}``
  placeholders) and the kernel struct the frames of ``nnet_arith_common.h`` call (``fold`` adds the terms of
  one fold step; ``fold_units`` says what ReuseFactor folds besides the outputs);
* ``generated_terms``, ``dense_terms``, ``multiplications``, ``report_fields``:
  what the report counts;
* ``rtl_layer``: Verilog of the layer's constant-weight dot product (``toolchain.rtl``), simulated equal to
  ``accumulate`` and costed by yosys (``arith4ml rtl-cost``);
* ``operations`` / ``frame_operations``: the operations of its terms, by kind and width, that the energy
  estimate (``toolchain.energy``, ``toolchain.estimate.energy_estimate``) prices.

Kernels never import hls4ml or Keras; the backends turn ``options`` into hls4ml
attributes and ``weight_arrays`` into weight variables.  See
``docs/architecture.md`` for adding one.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from toolchain.arith import fastfixed

if TYPE_CHECKING:
    from toolchain.energy import Op
    from toolchain.kernels.plan import DotCore, DotPlan
    from toolchain.rtl.verilog import RtlUnit


AUTO = "auto"  # the value of every option that leaves the choice to the Model config, then to the kernel


@dataclass(frozen=True)
class Option:
    """A per-layer config key of a kernel, registered as an hls4ml layer attribute.

    Looked up LayerName -> LayerType -> Model (see ``toolchain.backends.attributes``), where
    ``'auto'`` means "not set here"; ``default`` applies when none sets it (None: the kernel chooses),
    ``from_quantizer`` (if given) derives a
    value from the layer's weight quantizer before the default; ``check`` validates
    and normalises a value (raising ``ArithValueError`` with a message naming it).
    """

    name: str  # attribute name, snake_case: 'moduli'
    config_name: str  # key in an hls4ml config: 'Moduli' (hls4ml's PascalCase of ``name``)
    description: str
    choices: tuple[str, ...] | None = None
    default: Any = None
    from_quantizer: Callable[[Any], Any] | None = None
    check: Callable[[Any], Any] | None = None
    # hls4ml node attribute a Keras layer handler sets from the layer itself (e.g. an ApproxDense's multipliers):
    # used when LayerName sets nothing, before LayerType and Model
    from_layer: str | None = None


@dataclass(frozen=True)
class WeightArray:
    """A constant integer array the kernel's C++ reads (written as an hls4ml weight variable).

    ``data`` is in C++ order; its ap_int type holds ``[lo, hi]`` (the data's own range
    unless given: a residue array is sized by its moduli, since it also holds inputs).
    """

    name: str  # weight variable name on the node: 'arith_shift'
    var_prefix: str  # C++ array name prefix, the layer index follows: 'ash'
    typedef: str  # the config struct's typedef for its elements: 'shift_t'
    data: np.ndarray  # int64
    signed: bool
    lo: int | None = None
    hi: int | None = None
    folded: bool = False  # True: the last two axes are (fold units, n_out), written in fold order (kernels/fold.py)

    @property
    def value_range(self) -> tuple[int, int]:
        v = np.asarray(self.data, dtype=np.int64)
        lo = int(v.min()) if v.size else 0
        hi = int(v.max()) if v.size else 0
        return (lo if self.lo is None else self.lo), (hi if self.hi is None else self.hi)


def weight_code_bits(plan: DotPlan) -> int:
    """Bits of the layer's integer weight codes (two's complement; at least 1)."""
    from toolchain.arith import fixed

    w = np.asarray(plan.w_codes)
    lo, hi = (int(w.min()), int(w.max())) if w.size else (0, 0)
    return max(fixed.bits_for_range(min(lo, 0), max(hi, 0), True), 1)


# The geometry and accumulator fields every arith4ml dot config struct has (nnet::arith::dot_config).
DOT_CONFIG_FIELDS = """\
    static const unsigned in_height = {in_height}, in_width = {in_width}, n_chan = {n_chan};
    static const unsigned filt_height = {filt_height}, filt_width = {filt_width};
    static const unsigned out_height = {out_height}, out_width = {out_width};
    static const unsigned stride_height = {stride_height}, stride_width = {stride_width};
    static const unsigned pad_top = {pad_top}, pad_left = {pad_left};
    static const unsigned pad_bottom = {pad_bottom}, pad_right = {pad_right};
    static const unsigned n_in = {n_in}, n_out = {n_out};
    static const int acc_width = {acc_width}, acc_frac = {acc_frac};
    static const int raw_width = {raw_width};
    static const int in_bits = {in_bits};
    static const bool in_signed = {in_signed};
    static const unsigned reuse_factor = {reuse_factor};
    static const unsigned n_fold = {n_fold}, fold_in_steps = {fold_in_steps}, fold_out_steps = {fold_out_steps};
    static const unsigned fold_in = {fold_in}, fold_out = {fold_out};
    typedef {accum_t} accum_t;
    typedef {bias_t} bias_t;"""

# The frames of nnet_arith_common.h around a kernel struct ({kernel}): io_parallel, io_stream convolution (line
# buffers) and io_stream Dense
FRAME_CALL_TEMPLATE = "nnet::arith::dot_frame<{kernel}, {input_t}, {output_t}, {config}>({input}, {output}, {weights});"
STREAM_CALL_TEMPLATE = ("nnet::arith::dot_stream<{kernel}, {input_t}, {output_t}, {config}>"
                        "({input}, {output}, {weights});")
DENSE_STREAM_CALL_TEMPLATE = ("nnet::arith::dense_stream<{kernel}, {input_t}, {output_t}, {config}>"
                              "({input}, {output}, {weights});")


class Kernel:
    """One datapath of Dense/Conv layers.  Subclasses set the class attributes and override the hooks."""

    name: ClassVar[str]  # short name shown by the report: 'shift'
    arithmetic: ClassVar[str]  # value of the ``Arithmetic`` config key that requests it: 'bitshift'
    header: ClassVar[str]  # C++ header, relative to the project's firmware/: 'nnet_utils/nnet_bitshift.h'
    config_template: ClassVar[str]  # struct config{index} : ... {{ {dot_config} ... }};
    cpp_kernel: ClassVar[str]  # the C++ kernel struct the frames take: 'nnet::arith::shift_kernel'
    options: ClassVar[tuple[Option, ...]] = ()
    # True: 'Arithmetic: auto' picks this kernel only when one of its options is set for the layer
    opt_in: ClassVar[bool] = False
    multiplies: ClassVar[bool] = False  # data-by-weight multiplications in the emitted kernel

    # ---- encoding ------------------------------------------------------------------------------

    def regrid(self, core: DotCore, options: Mapping[str, Any]) -> DotCore:
        """The core on the grid this kernel computes on (before ``encode``): the same core by default; a kernel with
        its own operand types (8-bit approximate multipliers) requantizes the weight codes and moves the
        accumulator grid here."""
        return core

    def unsuitable(self, core: DotCore, options: Mapping[str, Any]) -> str | None:
        """Why this layer's weights cannot use this kernel (a phrase), or None if they can."""
        return None

    def encode(self, core: DotCore, options: Mapping[str, Any]) -> Any:
        """The kernel's encoding of ``core.w_codes``; ArithValueError if they do not fit."""
        raise NotImplementedError

    def bounds(self, core: DotCore, encoding: Any) -> tuple[int, int]:
        """Exact (lo, hi) of the accumulator (bias included) over every input code; exact products by default."""
        return core.exact_bounds[0], core.exact_bounds[1]

    # ---- reference -----------------------------------------------------------------------------

    def accumulate(self, plan: DotPlan, cols: np.ndarray) -> np.ndarray:
        """Sum of the terms (rows of ``cols``, n_out) on the accumulator grid, without the bias, as the C++ does it:
        term by term (int64), the slow and obviously correct oracle of ``fast_accumulate``."""
        raise NotImplementedError

    def fast_accumulate(self, plan: DotPlan, cols: np.ndarray) -> np.ndarray:
        """``accumulate(plan, cols)``, computed fast: the exact ``(cols @ w_codes) << pre_shift``.

        Every kernel whose terms are the exact products ``x * w`` (shift-add, table decode, multiply,
        residues covering the accumulator) sums to this value; a kernel whose terms are not exact
        (approximate multipliers) must override it.  ``cols`` holds codes of ``plan.x_type`` (int64, float64,
        or float32 where they fit 24 bits); returns a new array (the caller adds the bias in place): float32
        or float64 from BLAS while every partial sum fits the mantissa (possibly shifted above it), int64,
        or Python ints (object) when even int64 could overflow (``fastfixed.exact_matmul``).
        """
        bounds = fastfixed.dot_bound(plan.w_codes, plan.x_type.min_code, plan.x_type.max_code)
        return fastfixed.exact_matmul(cols, plan.w_codes, plan.pre_shift, bounds)

    # ---- C++ -----------------------------------------------------------------------------------

    def weight_arrays(self, plan: DotPlan) -> list[WeightArray]:
        """The constant arrays the C++ function reads after the bias, in call order."""
        raise NotImplementedError

    def cpp_kernel_for(self, plan: DotPlan) -> str:
        """The C++ kernel struct of this layer (``cpp_kernel`` unless the layer's encoding needs another)."""
        return self.cpp_kernel

    def config_template_for(self, plan: DotPlan) -> str:
        """The config struct template of this layer (``config_template`` unless the encoding needs another)."""
        return self.config_template

    def config_params(self, plan: DotPlan) -> dict[str, Any]:
        """Values of the kernel's own placeholders in ``config_template`` (beyond the common dot fields)."""
        return {}

    def fold_units(self, plan: DotPlan) -> int:
        """What ReuseFactor folds besides the outputs: patch positions (or groups of them) per output."""
        return plan.n_in

    # ---- counts --------------------------------------------------------------------------------

    def generated_terms(self, plan: DotPlan) -> int:
        """Terms the kernel generates per output pixel (a zero weight generates none)."""
        return int(np.count_nonzero(plan.w_codes))

    def dense_terms(self, plan: DotPlan) -> int:
        """Terms a kernel of this kind would generate per pixel if no weight were zero."""
        return plan.n_in * plan.n_out

    def multiplications(self, plan: DotPlan) -> int:
        """Data-by-weight multiplications per pixel in the emitted kernel."""
        return self.generated_terms(plan) if self.multiplies else 0

    def report_fields(self, plan: DotPlan) -> dict[str, Any]:
        """Kernel-specific fields of the report's JSON row."""
        return {}

    def report_details(self, plan: DotPlan) -> str:
        """Kernel-specific text of the report's table row."""
        return ""

    def __repr__(self) -> str:
        return f"<kernel {self.name}>"

    # ---- RTL (toolchain.rtl, docs/rtl.md) ---------------------------------------------------------------------

    def rtl_layer(self, plan: DotPlan, name: str) -> RtlUnit:
        """Verilog-2005 of this layer's dot product for one output pixel, with the plan's constant weights.

        A combinational module ``name`` with input port ``x`` (``n_in`` elements of ``plan.x_type.width`` bits,
        signed as ``plan.x_type``) and output port ``acc`` (``n_out`` signed elements of ``plan.acc_type_width``
        bits) computing ``acc = bias_acc + accumulate(plan, x)`` bit for bit (the accumulator before the result
        cast).  UnsupportedError when the kernel has no RTL generator."""
        from toolchain.errors import UnsupportedError

        raise UnsupportedError(f"layer {plan.layer}: the {self.name} kernel has no RTL generator", layer=plan.layer)

    # ---- energy estimate (toolchain.energy, docs/estimate.md "Energy") ---------------------------------------

    def operations(self, plan: DotPlan) -> list[Op]:
        """The operations of one output pixel (all ``n_out`` outputs of one output position; the estimate
        multiplies by out_height x out_width), as ``toolchain.energy.Op`` counts.

        Default: per generated term an exact multiply of the input code by the weight code and an add of the
        accumulator's width, plus the weight ROM reads of a folded layer (``weight_rom_ops``)."""
        from toolchain.energy import Op

        terms = self.generated_terms(plan)
        acc = plan.acc_type_width
        return [Op("mult", (plan.x_type.width, weight_code_bits(plan)), terms), Op("add", (acc,), terms),
                *self.weight_rom_ops(plan)]

    def frame_operations(self, plan: DotPlan) -> list[Op]:
        """Operations done once per inference rather than per output pixel (e.g. converting each input value
        once); none by default."""
        return []

    def weight_rom_ops(self, plan: DotPlan) -> list[Op]:
        """A folded layer (``Strategy: Resource``, ReuseFactor > 1) reads its weights: per fold step one word of
        ``terms_per_step x word_bits`` bits from a ROM ``steps`` words deep.  Unfolded, the weights are constants:
        no read."""
        from toolchain.energy import Op

        fold = plan.schedule
        if fold.steps <= 1:
            return []
        return [Op("rom", (fold.steps, fold.terms_per_step * self.word_bits(plan)), fold.steps)]

    # ---- resource estimate (toolchain.estimate, docs/estimate.md) -------------------------------------------

    def element_bits(self, plan: DotPlan) -> int:
        """Bits of one input element as the layer's line buffer and window hold it: the input code's width."""
        return plan.x_type.width

    def word_bits(self, plan: DotPlan) -> int:
        """Bits of one fold unit's word in a folded weight ROM: one element of each per-(unit, output) array,
        as wide as its C++ type."""
        from toolchain.arith import fixed

        units = self.fold_units(plan) * plan.n_out
        arrays = [a for a in self.weight_arrays(plan)
                  if getattr(a, "folded", False) or np.asarray(a.data).size == units]
        return sum(fixed.bits_for_range(min(a.value_range[0], 0), max(a.value_range[1], 0), a.signed) for a in arrays)

    def cost(self, plan: DotPlan, io_type: str = "io_parallel"):
        """The datapath of one output pixel at the plan's fold (a ``toolchain.estimate.KernelCost``): per term one
        adder of the accumulator's width (the default: a constant shift or sign is wiring); one accumulator
        register per output.  Subclasses add what their terms need besides the adder."""
        from toolchain import estimate as est

        acc = plan.acc_type_width
        units = est.term_units(plan)
        return est.KernelCost(units=units, lut=units * est.adder_luts(acc), word_bits=self.word_bits(plan),
                              register_bits=plan.n_out * acc, register_widths=(acc,))
