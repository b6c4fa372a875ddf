"""Layers that move values without computing: the output keeps the input's exact type."""
from __future__ import annotations

from hls4ml.backends.fpga.passes.clone import Clone
from hls4ml.backends.fpga.passes.repack_stream import Repack
from hls4ml.model.layers import Input, Reshape, Transpose, ZeroPadding1D, ZeroPadding2D

from toolchain.backends.exact.dispatch import exact_type
from toolchain.backends.exact.node import input_type, set_if_unspecified
from toolchain.backends.hls_types import from_fixed


@exact_type.register
def _(node: Input) -> None:
    """The input keeps its configured type: it is the grid raw inputs are quantized to."""


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
