"""Activations: ReLU keeps the non-negative half of the input's range, linear all of it; a QKeras
activation quantizer sets the type QKeras computes (``qkeras_types``), not the one hls4ml maps it to."""
from __future__ import annotations

import warnings

from hls4ml.model.layers import Activation, Softmax
from hls4ml.utils.config import _get_precision_from_quantizer

from toolchain.backends.exact.dispatch import exact_type
from toolchain.backends.exact.node import allow_inexact, input_type, set_if_unspecified
from toolchain.backends.exact.qkeras_types import exact_type as quantizer_type
from toolchain.backends.hls_types import from_fixed, to_fixed
from toolchain.errors import UnsupportedError
from toolchain.kernels.plan import capped_type


def quantized_activation(node) -> bool:
    """Give a QKeras-quantized activation its exact type; True if the node has an activation quantizer.

    The result type config_from_keras_model wrote (hls4ml's mapping) is replaced by the exact one; a type
    the user set differently is kept.  A quantizer no fixed-point type reproduces is refused by name, unless
    ``AllowInexact`` is set (then a warning names it).
    """
    quantizer = node.get_attr("activation_quantizer")
    if quantizer is None:
        return False
    t, why = quantizer_type(quantizer)
    if t is None:
        message = f"layer {node.name}: {why} cannot be computed exactly as QKeras does"
        if not allow_inexact(node):
            raise UnsupportedError(f"{message}; use another quantizer, or set AllowInexact: true to accept hls4ml's "
                                   "approximation", layer=node.name, key="AllowInexact")
        warnings.warn(f"{message}: hls4ml's approximation is used (AllowInexact)", stacklevel=3)
        node.set_attr("arith_inexact", why)
        return True
    current = node.get_output_variable().type.precision
    try:
        generated = to_fixed(_get_precision_from_quantizer(quantizer), "quantizer")
    except Exception:  # noqa: BLE001 - hls4ml raises bare Exception for quantizers it does not know
        generated = None
    if generated is None or to_fixed(current, f"result of layer {node.name}") == generated:
        node.get_output_variable().type.precision = from_fixed(t)
    return True


@exact_type.register
def _(node: Activation) -> None:
    act = str(node.get_attr("activation", "")).lower()
    if act in ("relu", "linear") and quantized_activation(node):
        return
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
