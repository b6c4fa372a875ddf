"""Per-layer resource estimate of a converted design (LUT, FF, BRAM36, DSP), the part's budget, and ``--fit``.

**An estimate, not synthesis**: no vendor tool runs.  The figures come from simple per-unit cost
formulas applied to the hardware the arith4ml kernels describe (``docs/estimate.md``); they are for
seeing, before synthesis, whether a design is anywhere near a part's budget and which layer dominates.
Vivado will differ (logic optimisation, retiming, LUT packing, its own RAM/SRL/DSP inference).

What is costed, per layer (every Dense/Conv layer, pooling, elementwise layers):

* the datapath of one output pixel at the layer's fold: each kernel owns its formula
  (``Kernel.cost(plan) -> KernelCost``, in ``toolchain/kernels/*.py``).  ``Strategy: Latency`` computes
  every term in parallel (a zero weight generates no term: ``plan.generated_terms`` units);
  ``Strategy: Resource`` with ``ReuseFactor R > 1`` computes ``n_units x n_out / R`` terms per cycle
  (``plan.schedule.terms_per_step`` units; zero weights are not removed since a unit serves R weights),
  the weights read from a ROM of ``terms_per_step`` words by ``R`` deep.  ``Resource`` with ``R = 1`` is
  costed as ``Latency`` (a ROM of depth 1 is a constant);
* accumulator / residue-channel registers (``KernelCost.register_bits``, flip-flops);
* pipeline registers: ``PIPELINE_FF_PER_LUT`` flip-flops per datapath LUT;
* io_stream: the line buffer of a conv ((filt_height - 1) rows x in_width x n_chan elements of
  ``Kernel.element_bits(plan)`` bits: one RAM of in_width elements per row and channel, as
  ``nnet_arith_common.h`` partitions it) and its window registers (filt_h x filt_w x n_chan elements); a
  Dense layer's input vector; pooling's own line buffer ((pool_height - 1) x in_width x n_chan inputs);
* io_parallel: each layer's whole output array in registers (``frame_bits``), and for a conv the
  multiplexers that select each patch element from the input frame's registers;
* memories (ROMs, line buffers) map to BRAM36 when at least ``BRAM_MIN_DEPTH`` deep, else to LUTs
  (distributed ROM / SRL shift registers).

Not costed: io_stream FIFOs between layers (their depth is chosen by hls4ml's FIFO optimisation),
the board shell (DMA, interconnect, processing-system glue: ``FIT_TARGET`` leaves room for it),
softmax tables and other layers without a formula (a note names them), control logic.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from toolchain.boards import Board
    from toolchain.energy import CostTable, Op
    from toolchain.kernels.plan import DotPlan

# ---- cost constants (every one an assumption; docs/estimate.md says why each) --------------------------

LUT_PER_ADDER_BIT = 1.0
"""LUTs per bit of a two-input adder/subtractor: 7-series and UltraScale slices build an n-bit adder from
n LUT6s feeding the carry chain (the add/sub select of a signed term folds into the same LUT)."""

MOD_ADDER_LUTS_PER_BIT = 2.0
"""LUTs per bit of a modular adder (sum, then sum - m, then a select folded into the second adder's LUTs)."""

LUT_MULT_PER_BIT_PRODUCT = 0.5
"""LUTs per partial-product bit of a multiplier built from LUTs: an a x b multiplier takes ~a*b/2 LUT6s
(two partial-product bits per LUT6 with the carry chain: a rule of thumb, not a measured figure)."""

DSP_MIN_BITS = 10
"""A multiplier goes to DSP slices when both operands are wider than this, otherwise it is built from LUTs
(HLS tools tend to keep narrow products in fabric; the threshold is our assumption)."""

DSP_A_BITS, DSP_B_BITS = 25, 18
"""Signed operand widths of one DSP48E1 multiplier (7 series; UltraScale's DSP48E2 is 27 x 18, costed the
same, which overestimates slightly); wider products take ceil(a/25) x ceil(b/18) slices.  The DSP's post
adder (48 bits) absorbs the accumulation: no LUT adder then."""

DSP_ACC_BITS = 48
"""Width of the DSP slice's accumulator (P register): a term whose accumulator is wider needs a LUT adder."""

MUX_INPUTS_PER_LUT = 4
"""A LUT6 is a 4:1 multiplexer (with F7/F8 muxes combining them): an N:1 mux costs ceil((N-1)/3) LUTs
per bit, the LUTs of a tree of 4:1 muxes."""

BARREL_STAGES_PER_LUT = 2
"""A barrel shifter has one 2:1 mux stage per shift-amount bit; a LUT6 does two stages (a 4:1 mux), so a
w-bit shifter by up to s positions costs w x ceil(bit_length(s) / 2) LUTs."""

COMPARATOR_LUTS_PER_BIT = 2.0
"""Max pooling: a w-bit comparator (1 LUT/bit on the carry chain) plus a w-bit 2:1 select (1 LUT/bit)."""

ELEMENTWISE_LUTS_PER_BIT = 1.0
"""Activations, Add, BatchNorm (as hls4ml/arith4ml compute them element by element): one LUT per output bit
for the cast, saturation or add (a BatchNorm's scale multiplier is not modelled: a note says so)."""

PIPELINE_FF_PER_LUT = 0.5
"""Pipeline registers per datapath LUT: at a 10 ns clock HLS registers roughly every other level of an
adder tree; DSP slices use their internal registers (not counted)."""

FF_PER_REGISTER_BIT = 1
"""Flip-flops per register bit (accumulators, windows, io_parallel arrays)."""

ROM_BITS_PER_LUT = 64
"""A LUT6 holds a 64 x 1 distributed ROM/RAM: a w-bit memory of depth d costs w x ceil(d / 64) LUTs (weight
ROMs, and the line buffers of arith4ml's convolutions, which are RAMs indexed by column)."""

SRL_BITS_PER_LUT = 32
"""A LUT as SRLC32E holds a 32-deep shift register of 1 bit: a shift-register line buffer (hls4ml's pooling)
of depth d and width w costs w x ceil(d / 32) LUTs when it stays out of block RAM."""

BRAM_MIN_DEPTH = 128
"""Memories at least this deep go to BRAM36; shallower ones to LUTRAM/SRL.  Vivado's automatic choice
depends on depth and total size and tends to keep arrays shallower than about 64-128 words in distributed
memory; we pick 128 (an assumption): a shallow wide ROM (a few fold steps) stays in LUTs, a deep one uses
block RAM."""

BRAM36_SHAPES = ((512, 72), (1024, 36), (2048, 18), (4096, 9), (8192, 4), (16384, 2), (32768, 1))
"""(depth, width) configurations of one 36 Kib block RAM (single port; 512 x 72 with the parity bits)."""

FIT_TARGET = 0.8
"""``--fit`` fills at most this fraction of each of the part's LUT, FF, BRAM36 and DSP: the rest is left for
the board shell (DMA, AXI interconnect), routing and the estimate's own error."""

RESOURCES = ("lut", "ff", "bram36", "dsp")
RESOURCE_NAMES = {"lut": "LUT", "ff": "FF", "bram36": "BRAM36", "dsp": "DSP"}
DISCLAIMER = "estimate from arith4ml's cost model (docs/estimate.md), not synthesis: no vendor tool was run"

# layers that only rename an array or fan a stream out (nothing is computed or stored)
FREE_LAYERS = ("Input", "InputLayer", "Reshape", "Flatten", "Dropout", "Transpose", "Clone")
ELEMENTWISE_LAYERS = ("Activation", "ParametrizedActivation", "LeakyReLU", "ThresholdedReLU", "ELU", "PReLU",
                      "ReLU", "Merge", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum",
                      "BatchNormalization", "ApplyAlpha", "Concatenate")


# ---- unit costs -------------------------------------------------------------------------------------------


def adder_luts(bits: int) -> float:
    """LUTs of a ``bits``-wide adder or subtractor."""
    return LUT_PER_ADDER_BIT * max(int(bits), 0)


def mod_adder_luts(bits: int) -> float:
    """LUTs of a ``bits``-wide modular adder (add, subtract the modulus, select)."""
    return MOD_ADDER_LUTS_PER_BIT * max(int(bits), 0)


def mux_luts(n_inputs: int, bits: int) -> float:
    """LUTs of a ``bits``-wide ``n_inputs``:1 multiplexer (0 for a single input)."""
    if n_inputs <= 1:
        return 0.0
    return math.ceil((n_inputs - 1) / (MUX_INPUTS_PER_LUT - 1)) * bits


def barrel_luts(bits: int, max_shift: int) -> float:
    """LUTs of a ``bits``-wide shifter by a run-time amount in ``[0, max_shift]``."""
    stages = max(int(max_shift), 0).bit_length()
    return bits * math.ceil(stages / BARREL_STAGES_PER_LUT)


def multiplier(a_bits: int, b_bits: int) -> tuple[float, int]:
    """(LUTs, DSP slices) of an ``a_bits`` x ``b_bits`` multiplier: DSPs when both operands are wider than
    ``DSP_MIN_BITS``, else ``LUT_MULT_PER_BIT_PRODUCT`` LUTs per partial-product bit."""
    if a_bits > DSP_MIN_BITS and b_bits > DSP_MIN_BITS:
        big, small = max(a_bits, b_bits), min(a_bits, b_bits)
        return 0.0, math.ceil(big / DSP_A_BITS) * math.ceil(small / DSP_B_BITS)
    return LUT_MULT_PER_BIT_PRODUCT * a_bits * b_bits, 0


def csd_digits(value: int) -> int:
    """Non-zero digits of ``value`` in canonical signed-digit form: the adds of a constant multiplication."""
    value, digits = abs(int(value)), 0
    while value:
        if value & 1:
            digits += 1
            value -= 2 - (value & 3)  # digit +1 (value = 1 mod 4) or -1 (value = 3 mod 4)
        value >>= 1
    return digits


def const_mult_luts(constant: int, bits: int) -> float:
    """LUTs of a multiplication by a constant as shift-and-add: one ``bits``-wide adder per extra CSD digit."""
    return adder_luts(bits) * max(csd_digits(constant) - 1, 0)


def bram36(width: int, depth: int) -> int:
    """BRAM36 blocks of a ``width`` x ``depth`` memory (the best of the block's aspect ratios)."""
    if width <= 0 or depth <= 0:
        return 0
    return min(math.ceil(depth / d) * math.ceil(width / w) for d, w in BRAM36_SHAPES)


def memory(width: int, depth: int, shift_register: bool = False, copies: int = 1) -> tuple[float, int]:
    """(LUTs, BRAM36) of ``copies`` memories of ``width`` bits x ``depth`` words: BRAM36 when at least
    ``BRAM_MIN_DEPTH`` deep, else distributed ROM (``ROM_BITS_PER_LUT``) or SRLs (``SRL_BITS_PER_LUT``)."""
    if width <= 0 or depth <= 0 or copies <= 0:
        return 0.0, 0
    if depth >= BRAM_MIN_DEPTH:
        return 0.0, copies * bram36(width, depth)
    per_lut = SRL_BITS_PER_LUT if shift_register else ROM_BITS_PER_LUT
    return float(copies * width * math.ceil(depth / per_lut)), 0


# ---- what a kernel reports ----------------------------------------------------------------------------------


@dataclass
class KernelCost:
    """The datapath of one output pixel of a Dense/Conv layer at its fold, as its kernel costs it.

    ``units``: terms computed per cycle (RNS: over all residue channels); ``lut``/``dsp``: the units with
    their adders, reductions and conversions; ``ff``: registers the kernel adds beyond the accumulators;
    ``word_bits``: one unit's weight word in a folded ROM; ``register_bits``: accumulator (RNS: channel)
    registers; ``register_widths``: bits of one accumulator (RNS: one per residue channel)."""

    units: int
    lut: float = 0.0
    dsp: int = 0
    ff: float = 0.0
    word_bits: int = 0
    register_bits: int = 0
    register_widths: tuple[int, ...] = ()
    notes: tuple[str, ...] = ()


def folded(plan: DotPlan) -> bool:
    """Whether the plan's terms share hardware over several cycles (``Resource`` with ``ReuseFactor > 1``)."""
    return plan.schedule.steps > 1


def term_units(plan: DotPlan) -> int:
    """Terms computed per cycle: every generated term when not folded, else ``terms_per_step``."""
    return plan.schedule.terms_per_step if folded(plan) else plan.generated_terms


def signed_bits(lo: int, hi: int) -> int:
    """Bits of a two's-complement (or unsigned, when ``lo >= 0``) integer holding ``[lo, hi]``."""
    lo, hi = min(int(lo), 0), max(int(hi), 0)
    if lo >= 0:
        return max(hi.bit_length(), 1)
    return max(hi.bit_length(), (-lo - 1).bit_length()) + 1


# ---- per-layer estimate ---------------------------------------------------------------------------------


@dataclass
class LayerEstimate:
    """The estimate of one layer (fields as the report's resource table and JSON show them)."""

    layer: str
    cls: str
    kind: str
    strategy: str | None = None
    reuse_factor: int | None = None
    units: int | None = None
    line_buffer_bits: int = 0
    window_bits: int = 0
    rom_bits: int = 0
    register_bits: int = 0
    register_widths: list[int] = field(default_factory=list)
    frame_bits: int = 0
    lut: int = 0
    ff: int = 0
    bram36: int = 0
    dsp: int = 0
    cycles: int | None = None  # Dense/Conv: cycles per frame, output pixels x the II of a pixel
    notes: list[str] = field(default_factory=list)

    def get(self, resource: str) -> int:
        return int(getattr(self, resource))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _finish(est: LayerEstimate, lut: float, ff: float, bram: int, dsp: int) -> LayerEstimate:
    est.lut, est.ff, est.bram36, est.dsp = math.ceil(lut), math.ceil(ff), int(bram), int(dsp)
    return est


def _stream_buffers(plan: DotPlan, elem: int) -> tuple[int, int, float, int]:
    """io_stream: (line-buffer bits, window bits, LUTs, BRAM36) of a Dense/Conv layer's input side."""
    g = plan.geometry
    if g.filt_height == 1 and g.filt_width == 1 and g.in_height == 1 and g.in_width == 1:  # Dense: input vector
        return 0, plan.n_in * elem, 0.0, 0
    rows = g.filt_height - 1
    line_bits = rows * g.in_width * g.n_chan * elem
    # nnet_arith_common.h's dot_stream: line_buffer[rows][in_width][n_chan], partitioned by row and channel: one
    # RAM of in_width words of one element per (row, channel)
    lut, bram = memory(elem, g.in_width, copies=rows * g.n_chan)
    return line_bits, g.filt_height * g.filt_width * g.n_chan * elem, lut, bram


def dot_estimate(plan: DotPlan, io_type: str, strategy: str = "latency", reuse: int = 1) -> LayerEstimate:
    """The estimate of a Dense/Conv layer for ``strategy`` and ``reuse`` (analytic in both: the plan's own
    fold is replaced by the one they give, so ``--fit`` can try ReuseFactors without converting again)."""
    from toolchain.kernels.fold import make_fold

    strategy = str(strategy).lower()
    plan = copy.copy(plan)
    plan.fold = make_fold(plan.layer, plan.kernel.fold_units(plan), plan.n_out, int(reuse), strategy)
    cost = plan.kernel.cost(plan, io_type)
    fold = plan.schedule
    est = LayerEstimate(plan.layer, "", plan.kind, strategy=strategy, reuse_factor=int(reuse), units=cost.units,
                        register_bits=cost.register_bits, register_widths=list(cost.register_widths),
                        notes=list(cost.notes))
    lut, bram = cost.lut, 0
    if folded(plan):
        est.rom_bits = fold.terms_per_step * cost.word_bits * fold.steps
        rom_lut, bram = memory(fold.terms_per_step * cost.word_bits, fold.steps)
        lut += rom_lut
    elem = plan.kernel.element_bits(plan)
    # a pixel's II: ReuseFactor (Latency), or the fold steps then one result per cycle (Resource, folded)
    per_pixel = fold.steps + plan.n_out if folded(plan) else int(reuse)
    est.cycles = plan.geometry.out_height * plan.geometry.out_width * per_pixel
    if io_type == "io_stream":
        est.line_buffer_bits, est.window_bits, buf_lut, buf_bram = _stream_buffers(plan, elem)
        lut, bram = lut + buf_lut, bram + buf_bram
    else:
        g = plan.geometry
        positions = g.out_height * g.out_width
        if positions > 1:  # io_parallel conv, pipelined per output pixel: each patch element from the frame
            lut += plan.n_in * mux_luts(positions, elem)
        est.frame_bits = g.out_height * g.out_width * plan.n_out * plan.result_type.width
    ff = (cost.ff + PIPELINE_FF_PER_LUT * cost.lut
          + FF_PER_REGISTER_BIT * (est.register_bits + est.window_bits + est.frame_bits))
    return _finish(est, lut, ff, bram, cost.dsp)


def _width(layer) -> int:
    precision = layer.get_output_variable().type.precision
    return int(getattr(precision, "width", 0) or 0)


def _input_width(layer) -> int:
    node = layer.get_input_node()
    return _width(node) if node is not None else _width(layer)


def _output_size(layer) -> int:
    return int(math.prod(layer.get_output_variable().shape))


def _pool_estimate(layer, io_type: str) -> LayerEstimate:
    """Pooling, as hls4ml's own kernels do it: io_stream through a line buffer ((pool_height - 1) rows) and a
    window per pixel, io_parallel over the whole frame at once (hls4ml pipelines the function); global pooling
    folds each channel's map into one accumulator or maximum."""
    g = layer.get_attr
    cls = layer.class_name
    op = str(g("pool_op", "max")).lower()
    width = _input_width(layer)
    n_chan = int(g("n_filt"))
    est = LayerEstimate(layer.name, cls, "avg pool" if op == "average" else f"{op} pool")
    lut = bram = 0
    if "Global" in cls:
        ops, parallel = 1, n_chan  # one compare/add per value as the map streams in
    else:
        ph = int(g("pool_height") or 1) if "2D" in cls else 1
        pw = int(g("pool_width"))
        ops = ph * pw - 1
        parallel = n_chan if io_type == "io_stream" else _output_size(layer)
        if io_type == "io_stream":
            est.window_bits = ph * pw * n_chan * width
            if ph > 1:
                in_width = int(g("in_width"))
                est.line_buffer_bits = (ph - 1) * in_width * n_chan * width
                lut, bram = memory(n_chan * width, in_width, shift_register=True, copies=ph - 1)
    per_op = COMPARATOR_LUTS_PER_BIT * width if op == "max" else adder_luts(width + max(ops, 1).bit_length())
    logic = parallel * ops * per_op
    if io_type != "io_stream":
        est.frame_bits = _output_size(layer) * _width(layer)
    ff = PIPELINE_FF_PER_LUT * logic + FF_PER_REGISTER_BIT * (est.window_bits + est.frame_bits)
    return _finish(est, lut + logic, ff, bram, 0)


def _elementwise_estimate(layer, io_type: str) -> LayerEstimate:
    """An elementwise layer: one ``ELEMENTWISE_LUTS_PER_BIT`` op per output bit of the elements it handles at
    once (io_stream: one pixel's channels; io_parallel: the whole array, as hls4ml unrolls it)."""
    shape = layer.get_output_variable().shape
    width = _width(layer)
    elements = int(shape[-1]) if io_type == "io_stream" else _output_size(layer)
    est = LayerEstimate(layer.name, layer.class_name, "eltwise")
    if layer.class_name in ("BatchNormalization", "ApplyAlpha"):
        est.notes.append("BatchNorm costed as one add per element; its scale multiplier is not modelled")
    lut = elements * width * ELEMENTWISE_LUTS_PER_BIT
    if io_type != "io_stream":
        est.frame_bits = _output_size(layer) * width
    return _finish(est, lut, PIPELINE_FF_PER_LUT * lut + est.frame_bits, 0, 0)


def layer_estimate(layer, io_type: str, strategy: str | None = None, reuse: int | None = None) -> LayerEstimate:
    """The estimate of one hls4ml layer (a Dense/Conv layer at ``strategy``/``reuse``, by default its own)."""
    plan = layer.get_attr("arith_plan")
    cls = layer.class_name
    if plan is not None:
        config = layer.model.config
        strategy = strategy or (config.get_strategy(layer) or "latency")
        reuse = reuse or int(config.get_reuse_factor(layer))
        est = dot_estimate(plan, io_type, strategy, reuse)
        est.cls = cls
        return est
    if "Pooling" in cls:
        return _pool_estimate(layer, io_type)
    if cls in FREE_LAYERS:
        return LayerEstimate(layer.name, cls, "-")
    if cls in ELEMENTWISE_LAYERS:
        return _elementwise_estimate(layer, io_type)
    return LayerEstimate(layer.name, cls, "-", notes=[f"{cls} is not in the cost model (not counted)"])


# ---- the whole design ---------------------------------------------------------------------------------------


@dataclass
class Estimate:
    """Every layer's estimate and their totals."""

    layers: list[LayerEstimate]
    io_type: str

    @property
    def totals(self) -> dict[str, int]:
        return {r: sum(e.get(r) for e in self.layers) for r in RESOURCES}

    def as_dict(self) -> dict[str, Any]:
        return {"note": DISCLAIMER, "io_type": self.io_type, "layers": [e.as_dict() for e in self.layers],
                "totals": self.totals}


def io_type_of(hm) -> str:
    return str(hm.config.get_config_value("IOType") or "io_parallel")


def estimate_model(hm, overrides: Mapping[str, tuple[str, int]] | None = None) -> Estimate:
    """The estimate of every layer of ``hm`` (an hls4ml model of an arith4ml backend); ``overrides`` maps a
    Dense/Conv layer's name to the (strategy, ReuseFactor) to cost instead of its own."""
    io_type = io_type_of(hm)
    overrides = overrides or {}
    layers = []
    for layer in hm.get_layers():
        strategy, reuse = overrides.get(layer.name, (None, None))
        layers.append(layer_estimate(layer, io_type, strategy, reuse))
    return Estimate(layers, io_type)


# ---- the part's budget --------------------------------------------------------------------------------------


@dataclass
class Overuse:
    """A resource whose total exceeds the budget, and the largest layers that push it over."""

    resource: str
    total: int
    budget: int
    culprits: list[tuple[str, int]]  # (layer, its amount), largest first, until the rest fits

    def message(self, board: Board) -> str:
        name = RESOURCE_NAMES[self.resource]
        largest = ", ".join(f"{layer} {amount:,} {name}" for layer, amount in self.culprits)
        return (f"warning: estimate exceeds {board.name} ({board.part}) {name} budget: {self.total:,} > "
                f"{self.budget:,}; largest: {largest}")


def budget_of(board: Board, target: float = 1.0) -> dict[str, int] | None:
    """The part's resources times ``target`` (None if the board file lists none)."""
    if board.resources is None:
        return None
    totals = board.resources.as_dict()
    return {r: int(math.floor(totals[r] * target)) for r in RESOURCES}


def overuses(estimate: Estimate, budget: Mapping[str, int]) -> list[Overuse]:
    """Each resource over ``budget``, with the largest layers whose removal would bring it within budget."""
    found = []
    totals = estimate.totals
    for r in RESOURCES:
        if totals[r] <= budget[r]:
            continue
        rest, culprits = totals[r], []
        for e in sorted(estimate.layers, key=lambda e: -e.get(r)):
            if rest <= budget[r] or e.get(r) == 0:
                break
            culprits.append((e.layer, e.get(r)))
            rest -= e.get(r)
        found.append(Overuse(r, totals[r], budget[r], culprits))
    return found


def utilisation(estimate: Estimate, board: Board) -> dict[str, float | None] | None:
    """Each resource's total as a fraction of the part's (None without a budget; per resource, None where the
    part has none of it but the design uses some)."""
    budget = budget_of(board)
    if budget is None:
        return None
    return {r: (estimate.totals[r] / budget[r] if budget[r] else (None if estimate.totals[r] else 0.0))
            for r in RESOURCES}


# ---- --fit ----------------------------------------------------------------------------------------------------


@dataclass
class Fit:
    """ReuseFactors chosen by :func:`fit_reuse_factors`: per layer (strategy, R), the estimate, and whether it fits."""

    board: str
    part: str
    target: float
    choices: dict[str, tuple[str, int]]
    fixed: list[str]
    estimate: Estimate
    fits: bool
    problems: list[Overuse]

    def config_entries(self) -> dict[str, dict[str, Any]]:
        """hls4ml LayerName entries of the chosen layers: ``{ReuseFactor: R, Strategy: resource|latency}`` (hls4ml's
        own lower-case spelling: a layer hls4ml replaces, e.g. a 1x1 Conv2D by PointwiseConv2D, then keeps it
        without an 'Overriding attribute' warning)."""
        return {name: {"ReuseFactor": r, "Strategy": "resource" if r > 1 else "latency"}
                for name, (_, r) in self.choices.items()}

    def as_dict(self) -> dict[str, Any]:
        return {"board": self.board, "part": self.part, "target": self.target, "fits": self.fits,
                "reuse_factors": {name: r for name, (_, r) in self.choices.items()}, "fixed": self.fixed,
                "totals": self.estimate.totals}


def _next_reuse(layer, io_type: str, current: tuple[str, int], resource: str,
                cache: dict) -> tuple[str, int] | None:
    """The smallest valid ReuseFactor above the current one that lowers the layer's ``resource`` (Resource
    strategy), or None: the layer cannot fold further for it."""
    from toolchain.kernels.fold import valid_reuse_factors

    plan = layer.get_attr("arith_plan")
    now = _cached(layer, io_type, current, cache).get(resource)
    for r in valid_reuse_factors(plan.kernel.fold_units(plan), plan.n_out):
        if r <= current[1]:
            continue
        if _cached(layer, io_type, ("resource", r), cache).get(resource) < now:
            return "resource", r
    return None


def _cached(layer, io_type: str, choice: tuple[str, int], cache: dict) -> LayerEstimate:
    key = (layer.name, choice)
    if key not in cache:
        cache[key] = layer_estimate(layer, io_type, *choice)
    return cache[key]


def fit_reuse_factors(hm, board: Board, target: float = FIT_TARGET, fixed: Iterable[str] = ()) -> Fit:
    """ReuseFactors that make ``hm``'s estimate fit ``target`` of ``board``'s part (docs/estimate.md, "--fit").

    The rule: every Dense/Conv layer not in ``fixed`` starts at ``ReuseFactor 1`` (``Latency``).  While some
    resource's total exceeds ``target`` x the part's, take the over-used resources from the most over-used
    (largest total / budget) down, and for the first one that some layer can lower, raise the ReuseFactor of
    the layer contributing most to it to the next valid ReuseFactor (``valid_reuse_factors(fold_units,
    n_out)``) that lowers that layer's use of it (``Strategy: Resource``; a ReuseFactor that would not lower
    it, e.g. 2 for a layer with more than half its weights zero, is skipped).  Stop when the estimate fits, or
    when no layer can lower any over-used resource (``fits`` False; ``problems`` names the resources over).
    Layers in ``fixed`` (a user's own ReuseFactor or Strategy) keep their configured values.
    """
    from toolchain.errors import ConfigError

    budget = budget_of(board, target)
    if budget is None:
        raise ConfigError(f"board '{board.name}' lists no resources (lut, ff, bram36, dsp) in its file; --fit "
                          "needs the part's totals")
    io_type = io_type_of(hm)
    fixed = list(fixed)
    dots = {layer.name: layer for layer in hm.get_layers() if layer.get_attr("arith_plan") is not None}
    choices = {name: ("latency", 1) for name in dots if name not in fixed}
    cache: dict = {}
    others = {layer.name: layer_estimate(layer, io_type) for layer in hm.get_layers() if layer.name not in choices}
    while True:
        estimate = Estimate([_cached(layer, io_type, choices[layer.name], cache) if layer.name in choices
                             else others[layer.name] for layer in hm.get_layers()], io_type)
        over = overuses(estimate, budget)
        if not over:
            return Fit(board.name, board.part, target, dict(choices), fixed, estimate, True, [])
        step = _fold_step(estimate, over, dots, choices, io_type, cache)
        if step is None:
            return Fit(board.name, board.part, target, dict(choices), fixed, estimate, False, over)
        choices[step[0]] = step[1]


def _fold_step(estimate: Estimate, over: list[Overuse], dots: dict, choices: dict, io_type: str,
               cache: dict) -> tuple[str, tuple[str, int]] | None:
    """(layer, new choice) of the next --fit step, or None when no layer can lower an over-used resource."""
    for problem in sorted(over, key=lambda o: -o.total / max(o.budget, 1)):
        r = problem.resource
        for e in sorted((e for e in estimate.layers if e.layer in choices), key=lambda e: -e.get(r)):
            if e.get(r) == 0:
                break
            step = _next_reuse(dots[e.layer], io_type, choices[e.layer], r, cache)
            if step is not None:
                return e.layer, step
    return None


# ---- energy (toolchain.energy; docs/estimate.md, "Energy") -------------------------------------------------

BASELINE_BITS = 8
"""The baseline's operands: every dense term (zero weights included) as an exact 8-bit x 8-bit multiply plus an
add of the layer's accumulator width."""


@dataclass
class LayerEnergy:
    """The energy of one Dense/Conv layer per inference (pJ): its operations (``ops``, counts per inference)
    priced by the cost table, the exact 8-bit multiply baseline, and the multipliers alone."""

    layer: str
    cls: str
    kind: str
    pixels: int  # output positions (out_height x out_width)
    ops: list[Op]  # counts per inference
    energy_pj: float
    baseline_pj: float
    multiplier_pj: float
    multiplier_baseline_pj: float

    @property
    def saving(self) -> float:
        """1 - energy / baseline (0 without a baseline)."""
        return 1.0 - self.energy_pj / self.baseline_pj if self.baseline_pj else 0.0

    @property
    def multiplier_saving(self) -> float:
        return 1.0 - self.multiplier_pj / self.multiplier_baseline_pj if self.multiplier_baseline_pj else 0.0

    @property
    def op_counts(self) -> dict[str, int]:
        """Operations per inference by kind (all widths together)."""
        counts: dict[str, int] = {}
        for op in self.ops:
            counts[op.kind] = counts.get(op.kind, 0) + op.count
        return counts

    def as_dict(self) -> dict[str, Any]:
        return {"layer": self.layer, "class": self.cls, "kind": self.kind, "pixels": self.pixels,
                "op_counts": self.op_counts,
                "ops": [{"kind": op.kind, "params": list(op.params), "count": op.count} for op in self.ops],
                "energy_pj": self.energy_pj, "baseline_pj": self.baseline_pj, "saving": self.saving,
                "multiplier_pj": self.multiplier_pj, "multiplier_baseline_pj": self.multiplier_baseline_pj,
                "multiplier_saving": self.multiplier_saving}


@dataclass
class EnergyEstimate:
    """Every Dense/Conv layer's energy per inference and the totals (pJ), under ``table``."""

    layers: list[LayerEnergy]
    table: CostTable

    @property
    def total_pj(self) -> float:
        return sum(e.energy_pj for e in self.layers)

    @property
    def baseline_pj(self) -> float:
        return sum(e.baseline_pj for e in self.layers)

    @property
    def saving(self) -> float:
        """1 - total / baseline: the energy saved against the exact 8-bit multiply baseline."""
        return 1.0 - self.total_pj / self.baseline_pj if self.baseline_pj else 0.0

    @property
    def multiplier_pj(self) -> float:
        return sum(e.multiplier_pj for e in self.layers)

    @property
    def multiplier_baseline_pj(self) -> float:
        return sum(e.multiplier_baseline_pj for e in self.layers)

    @property
    def multiplier_saving(self) -> float:
        """1 - multiplier energy / the baseline's 8-bit multiplies."""
        return 1.0 - self.multiplier_pj / self.multiplier_baseline_pj if self.multiplier_baseline_pj else 0.0

    def as_dict(self) -> dict[str, Any]:
        from toolchain import energy

        return {"note": energy.DISCLAIMER, "unit": "pJ per inference", "cost_table": self.table.as_dict(),
                "baseline": f"every dense term an exact {BASELINE_BITS}-bit x {BASELINE_BITS}-bit multiply plus an "
                            "add of the accumulator width",
                "layers": [e.as_dict() for e in self.layers],
                "total_pj": self.total_pj, "baseline_pj": self.baseline_pj, "saving": self.saving,
                "multiplier_pj": self.multiplier_pj, "multiplier_baseline_pj": self.multiplier_baseline_pj,
                "multiplier_saving": self.multiplier_saving}


def dot_energy(plan: DotPlan, table: CostTable | None = None, layer: str | None = None, cls: str = "") -> LayerEnergy:
    """The energy per inference of a Dense/Conv layer at its plan's own fold: its kernel's ``operations`` (per
    output pixel) times out_height x out_width, plus its ``frame_operations``, priced by ``table`` (a
    ``toolchain.energy.CostTable``; None: the shipped one)."""
    from toolchain import energy

    table = table or energy.load_cost_table()
    g = plan.geometry
    pixels = g.out_height * g.out_width
    kernel = plan.kernel
    ops = energy.merge(energy.merge(kernel.operations(plan), pixels) + energy.merge(kernel.frame_operations(plan)))
    dense = plan.n_in * plan.n_out * pixels
    baseline = [energy.Op("mult", (BASELINE_BITS, BASELINE_BITS), dense), energy.Op("add", (plan.acc_type_width,),
                                                                                    dense)]
    return LayerEnergy(layer or plan.layer, cls, plan.kind, pixels, ops, energy.ops_energy(ops, table),
                       energy.ops_energy(baseline, table), energy.ops_multiply_energy(ops, table),
                       energy.ops_multiply_energy(baseline, table))


def energy_estimate(hm, table: CostTable | None = None) -> EnergyEstimate:
    """The energy per inference of every Dense/Conv layer of ``hm`` (an hls4ml model of an arith4ml backend)
    and the totals, under ``table`` (a ``toolchain.energy.CostTable``; None: the shipped 45 nm one).  Only the
    dot-product datapaths are priced: activations, pooling, BatchNorm and the streams between layers are not."""
    from toolchain import energy

    table = table or energy.load_cost_table()
    layers = [dot_energy(layer.get_attr("arith_plan"), table, layer.name, layer.class_name)
              for layer in hm.get_layers() if layer.get_attr("arith_plan") is not None]
    return EnergyEstimate(layers, table)


# ---- yosys counts of the layers' RTL (arith4ml rtl-cost) -------------------------------------------------------

RTL_NOTE = ("yosys synth_xilinx -family xc7 counts of each layer's constant-weight datapath for one output pixel "
            "(arith4ml rtl-cost): open-source synthesis, fully parallel, not Vivado's and not energy")


@dataclass
class RtlCount:
    """The yosys counts ``arith4ml rtl-cost`` recorded for one layer, matched against the layer's current plan."""

    layer: str
    kind: str
    scope: str  # 'layer' (Dense) or 'output pixel' (Conv)
    terms: int
    lut_nodsp: int | None  # LUTs with -nodsp (every multiplier in fabric)
    lut_dsp: int | None  # LUTs with DSP inference
    dsp: int | None
    current: bool  # False: the layer's plan changed since the counts were taken (weights, types, arithmetic)

    @property
    def lut_per_term(self) -> float | None:
        return None if self.lut_nodsp is None or not self.terms else self.lut_nodsp / self.terms

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"lut_per_term": self.lut_per_term}


def rtl_counts(hm, doc: Mapping[str, Any]) -> list[RtlCount]:
    """The per-layer counts of an ``rtl_cost.json`` document for the planned layers of ``hm`` it covers, in graph
    order; a count whose plan digest differs from the layer's plan now is marked not ``current``."""
    from toolchain.kernels.plan import plan_digest

    rows = {r.get("name"): r for r in doc.get("rows", []) if isinstance(r, Mapping) and r.get("kind") != "unit"}
    out = []
    for layer in hm.get_layers():
        plan = layer.get_attr("arith_plan")
        row = rows.get(layer.name)
        if plan is None or row is None or row.get("skipped"):
            continue
        nodsp, withdsp = row.get("counts", {}).get("nodsp") or {}, row.get("counts", {}).get("dsp") or {}
        out.append(RtlCount(layer.name, plan.kind, str(row.get("scope", "")), plan.generated_terms,
                            nodsp.get("lut"), withdsp.get("lut"), withdsp.get("dsp"),
                            current=row.get("digest") == plan_digest(plan)))
    return out
