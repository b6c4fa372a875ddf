"""Dense / Conv1D / Conv2D: choose the kernel, plan the exact arithmetic, add the kernel's arrays.

The plan (``toolchain.kernels.plan.DotPlan``) is stored on the node as ``arith_plan``;
the dot templates write it out and ``toolchain.reference`` recomputes the layer from it.
"""
from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
from hls4ml.model.layers import Conv1D, Conv2D, Dense
from hls4ml.model.types import IntegerPrecisionType

from toolchain.arith import fixed
from toolchain.arith.checks import first_index
from toolchain.backends.attributes import option_value
from toolchain.backends.exact.dispatch import exact_type
from toolchain.backends.exact.node import fixed_or_none, forced_result_type, input_type, set_if_unspecified, user_forced
from toolchain.backends.hls_types import from_fixed
from toolchain.errors import UnsupportedError
from toolchain.kernels import WeightArray
from toolchain.kernels.fold import Fold, fold_order, make_fold
from toolchain.kernels.plan import DotPlan, Geometry, build_plan, choose_kernel, dot_core

BIAS_ARRAY = ("arith_bias", "ab", "bias_t")  # every kernel's first array: the bias on the accumulator grid


def geometry(node) -> Geometry:
    """The layer's convolution frame (a Dense layer is the 1x1 case)."""
    g = node.get_attr
    if isinstance(node, Dense):
        return Geometry(n_chan=int(g("n_in")))
    if isinstance(node, Conv1D):
        return Geometry(in_width=int(g("in_width")), n_chan=int(g("n_chan")), filt_width=int(g("filt_width")),
                        out_width=int(g("out_width")), stride_width=int(g("stride_width")), pad_left=int(g("pad_left")),
                        pad_right=int(g("pad_right")))
    return Geometry(in_height=int(g("in_height")), in_width=int(g("in_width")), n_chan=int(g("n_chan")),
                    filt_height=int(g("filt_height")), filt_width=int(g("filt_width")),
                    out_height=int(g("out_height")), out_width=int(g("out_width")),
                    stride_height=int(g("stride_height")), stride_width=int(g("stride_width")),
                    pad_top=int(g("pad_top")), pad_left=int(g("pad_left")), pad_bottom=int(g("pad_bottom")),
                    pad_right=int(g("pad_right")))


def plan_arrays(plan: DotPlan) -> list[WeightArray]:
    """The bias and the kernel's arrays, in the order the C++ function takes them (folded arrays in fold order)."""
    arrays = [WeightArray(*BIAS_ARRAY, plan.bias_acc, signed=True)] + plan.kernel.weight_arrays(plan)
    return [replace(a, data=fold_order(np.asarray(a.data), plan.schedule)) if a.folded else a for a in arrays]


def checked_values(node, var, notes: list[str]) -> np.ndarray:
    """A weight variable's values: finite, and for a float layer (no weight quantizer) quantized to the
    variable's precision as stock hls4ml does (a note says so), refusing values that precision cannot hold."""
    values = np.asarray(var.data, dtype=np.float64)
    what = "weight" if var is node.weights.get("weight") else "bias"
    bad = first_index(~np.isfinite(values))
    if bad is not None:
        raise UnsupportedError(f"layer {node.name}: {what} {bad} is {values[bad]}; weights and biases must be finite",
                               layer=node.name)
    if node.get_attr("weight_quantizer") is not None:
        return values  # quantized by QKeras: exact codes, the planner finds them
    t = fixed_or_none(var.type.precision)
    if t is None:
        raise UnsupportedError(f"layer {node.name}: the {what} precision {var.type.precision} is not fixed point; "
                               f"set Precision: {{{what}: 'fixed<16,6>'}} or quantize the layer", layer=node.name,
                               key="Precision")
    scaled = np.ldexp(values, t.frac)
    over = first_index((scaled < t.min_code - 0.5) | (scaled > t.max_code + 0.5))
    if over is not None:
        raise UnsupportedError(f"layer {node.name}: float {what} {over} = {values[over]:g} does not fit its precision "
                               f"{t} (range [{fixed.to_float(t.min_code, t):g}, {fixed.to_float(t.max_code, t):g}]); "
                               f"set a wider Precision for {what}, or quantize the layer (QKeras)",
                               layer=node.name, key="Precision")
    quantized = fixed.to_float(fixed.quantize(values, t), t)
    if what == "weight" or np.any(quantized != values):
        notes.append(f"float {what}s (no quantizer) quantized to {t} as stock hls4ml does: not exact with respect "
                     "to the Keras model")
    return quantized


def layer_fold(node, plan: DotPlan) -> Fold:
    """The layer's fold from the user's ``ReuseFactor`` and ``Strategy`` (hls4ml's config lookup: LayerName ->
    LayerType -> Model), checked against the kernel's terms.  hls4ml's own initialisers replace an invalid
    ReuseFactor by the closest one they accept; arith4ml refuses it by name instead (``make_fold``)."""
    config = node.model.config
    return make_fold(node.name, plan.kernel.fold_units(plan), plan.n_out, config.get_reuse_factor(node),
                     config.get_strategy(node) or "latency")


@exact_type.register(Dense)
@exact_type.register(Conv1D)
@exact_type.register(Conv2D)
def _(node) -> None:
    backend = node.model.config.backend
    options = {o.name: option_value(node, o) for o in backend.options}
    weight_var = node.get_weights("weight")
    if "xnor" in type(weight_var.type.precision).__name__.lower():
        # hls4ml stores binary() kernels as XNOR bits (0 meaning -1) for its popcount kernel
        raise UnsupportedError(f"layer {node.name}: binary (XNOR) kernels are not supported by the "
                               f"{backend.name} backend; use ternary, quantized_po2 or quantized_bits weights",
                               layer=node.name)
    bias_var = node.weights.get("bias")
    notes: list[str] = []
    weights, bias = (None if var is None else checked_values(node, var, notes) for var in (weight_var, bias_var))
    core = dot_core(node.name, geometry(node), input_type(node), weights, bias,
                    weight_type=fixed_or_none(weight_var.type.precision),
                    bias_type=fixed_or_none(bias_var.type.precision) if bias_var is not None else None)
    if node.get_attr("keras_approx") is not None and "approx" not in backend.arithmetics:
        raise UnsupportedError(f"layer {node.name} is an approximate-multiplier layer (ApproxDense/ApproxConv2D); the "
                               f"{backend.name} backend would compute exact products: convert it with --backend approx",
                               layer=node.name)
    kernel, choice_notes = choose_kernel(core, options["arithmetic"], backend.dot_kernels, options)
    notes += choice_notes
    accum = fixed_or_none(node.get_attr("accum_t").precision) if user_forced(node, "accum") else None
    plan = build_plan(core, kernel, options, result_type=forced_result_type(node), accum_type=accum, notes=notes)
    plan.fold = layer_fold(node, plan)
    node.set_attr("reuse_factor", int(node.model.config.get_reuse_factor(node)))  # the user's, not hls4ml's closest
    for note in plan.notes:
        if "narrower" in note:
            warnings.warn(f"layer {node.name}: {note}", stacklevel=2)
    set_if_unspecified(node, plan.result_type)
    if node.get_attr("accum_t") is not None:
        node.get_attr("accum_t").precision = from_fixed(plan.acc_type)
    for array in plan_arrays(plan):
        lo, hi = array.value_range
        precision = IntegerPrecisionType(fixed.bits_for_range(min(lo, 0), max(hi, 0), array.signed),
                                         signed=array.signed)
        node.add_weights_variable(name=array.name, var_name=array.var_prefix + "{index}", precision=precision,
                                  data=np.asarray(array.data, dtype=np.int64).reshape(-1))
    node.set_attr("arith_plan", plan)
