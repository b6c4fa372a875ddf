"""Layers that move values without computing: the output keeps the input's exact type."""
from __future__ import annotations

from hls4ml.backends.fpga.passes.clone import Clone
from hls4ml.backends.fpga.passes.repack_stream import Repack
from hls4ml.model.layers import Input, Reshape, Transpose, ZeroPadding1D, ZeroPadding2D

from toolchain.backends.exact.dispatch import exact_type
from toolchain.backends.exact.node import input_type, set_if_unspecified, user_forced
from toolchain.backends.exact.qkeras_types import exact_type as quantizer_type
from toolchain.backends.hls_types import from_fixed
from toolchain.kernels.approx import eight_bit_type


@exact_type.register
def _(node: Input) -> None:
    """The input takes the type of a QKeras quantizer (or of an ApproxDense/ApproxConv2D's 8-bit input) that is its
    only consumer (so raw inputs are rounded once, as Keras rounds them), unless the user set the Input's precision;
    else it keeps its configured type (hls4ml's Model default) and csim says that outputs can differ from Keras by
    that rounding."""
    consumers = [n for n in node.model.get_layers() if any(i in node.outputs for i in n.inputs)]
    if len(consumers) != 1 or user_forced(node, "result"):
        return
    quantizer = consumers[0].get_attr("activation_quantizer")
    t, _ = quantizer_type(quantizer) if quantizer is not None else (None, None)
    if t is None and consumers[0].get_attr("keras_input_integer") is not None:
        # an ApproxDense/ApproxConv2D quantizes its input to ap_fixed<8, input_integer, AP_RND, AP_SAT> itself
        t = eight_bit_type(consumers[0].get_attr("keras_input_integer"))
    if t is not None:
        node.get_output_variable().type.precision = from_fixed(t)
        node.set_attr("arith_input_quantizer", consumers[0].name)


@exact_type.register(Reshape)
@exact_type.register(Repack)
@exact_type.register(Transpose)
@exact_type.register(ZeroPadding1D)
@exact_type.register(ZeroPadding2D)
def _(node) -> None:
    set_if_unspecified(node, input_type(node))


@exact_type.register
def _(node: Clone) -> None:
    """io_stream copies of a tensor used twice (skip connections): every copy has the input's type."""
    for out in node.outputs:
        node.get_output_variable(out).type.precision = from_fixed(input_type(node))
