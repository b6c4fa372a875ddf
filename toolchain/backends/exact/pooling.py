"""Pooling: max keeps the input type; average over 2**k values is an exact sum read k bits finer."""
from __future__ import annotations

from hls4ml.model.layers import GlobalPooling1D, GlobalPooling2D, Pooling1D, Pooling2D

from toolchain.arith import fixed
from toolchain.backends.exact.dispatch import exact_type
from toolchain.backends.exact.node import input_type, set_if_unspecified, user_forced
from toolchain.backends.hls_types import from_fixed
from toolchain.errors import UnsupportedError
from toolchain.kernels.plan import capped_type


def pool_size(node) -> int:
    """Values per pooling window (the whole map for global pooling)."""
    g = node.get_attr
    if isinstance(node, Pooling1D):
        return int(g("pool_width"))
    if isinstance(node, Pooling2D):
        return int(g("pool_height")) * int(g("pool_width"))
    if isinstance(node, GlobalPooling1D):
        return int(g("n_in"))
    return int(g("in_height")) * int(g("in_width"))


@exact_type.register(Pooling1D)
@exact_type.register(Pooling2D)
@exact_type.register(GlobalPooling1D)
@exact_type.register(GlobalPooling2D)
def _(node) -> None:
    """Average pooling over N = 2**k values is exact: hls4ml sums in accum_t and divides by N there
    (io_parallel) or in the quotient's type (io_stream, which keeps accum_t's fractional bits), so
    accum_t gets k more integer bits for the sum and k more fractional bits for the quotient; the
    average lies in the input's range, on a grid k bits finer.  Other N would divide inexactly and
    padded windows change N at the borders (hls4ml's max-pool padding value is also wrong for
    unsigned types), so both are refused."""
    op = str(node.get_attr("pool_op", "")).lower()
    pads = [int(node.get_attr(k, 0) or 0) for k in ("pad_top", "pad_bottom", "pad_left", "pad_right")]
    if any(pads):
        raise UnsupportedError(f"layer {node.name}: padded pooling is not supported (pads {pads}); use "
                               "padding='valid' or input sizes the pool divides", layer=node.name)
    x = input_type(node)
    if op == "max":
        acc, result = x, x
    elif op == "average":
        n = pool_size(node)
        if n & (n - 1):
            raise UnsupportedError(f"layer {node.name}: average pooling over {n} values is not exact; only "
                                   "power-of-two windows (2, 4, 8, 16, ...) are supported", layer=node.name)
        k = n.bit_length() - 1
        acc = fixed.type_for_range(x.min_code << (2 * k), x.max_code << (2 * k), x.frac + k, signed=x.signed)
        result = capped_type(x.min_code << k, x.max_code << k, x.frac + k, signed=x.signed)
    else:
        raise UnsupportedError(f"layer {node.name} ({node.class_name}, {op} pooling) is not supported; "
                               "max and average pooling are", layer=node.name)
    set_if_unspecified(node, result)
    # hls4ml's early type inference set accum_t from the input type of that time: it must follow the
    # input's final type (a forced accum_t is kept for max pooling, where the reference models it)
    if node.get_attr("accum_t") is not None and (op == "average" or not user_forced(node, "accum")):
        node.get_attr("accum_t").precision = from_fixed(acc)
