"""Activations: ReLU keeps the non-negative half of the input's range, linear all of it."""
from __future__ import annotations

from hls4ml.model.layers import Activation, Softmax

from toolchain.backends.exact.dispatch import exact_type
from toolchain.backends.exact.node import input_type, set_if_unspecified
from toolchain.errors import UnsupportedError
from toolchain.kernels.plan import capped_type


@exact_type.register
def _(node: Activation) -> None:
    act = str(node.get_attr("activation", "")).lower()
    x = input_type(node)
    if act == "relu":  # unsigned from here on
        set_if_unspecified(node, capped_type(0, max(x.max_code, 0), x.frac, signed=False))
    elif act == "linear":
        set_if_unspecified(node, capped_type(x.min_code, x.max_code, x.frac, signed=x.signed))
    else:
        raise UnsupportedError(f"layer {node.name}: activation '{act}' is not supported (relu, quantized_relu, "
                               "linear are)", layer=node.name)


@exact_type.register
def _(node: Softmax) -> None:
    # only reached if the final-softmax check let it through: never leave a softmax silently unmodelled
    raise UnsupportedError(f"layer {node.name}: softmax tables are not modelled by the reference; only a final "
                           "softmax can be removed (Skip: true)", layer=node.name, key="Skip")
