"""BatchNormalization / ApplyAlpha kept as its own exact scale-and-bias layer.

A BatchNorm that stays a layer of its own computes ``y = x * s + b`` per channel in hls4ml's
normalize kernels: one product of the input with an exactly represented scale, one addition, one
cast to the result type.  We pick the scale and bias codes and infer the result type so that this
is exact (up to RESULT_WIDTH_CAP bits):

* QBatchNormalization: s and b are computed from the *quantized* gamma/beta/mean/variance as QKeras
  does at inference (stock hls4ml ignores these quantizers and so disagrees with Keras);
* s is represented exactly (float32 scales are, with <= 24 significant bits); only if x and s
  together would pass MAX_PRODUCT_WIDTH bits (a 40-bit input leaves 22 bits for s), or s needs more
  than MAX_EXACT_FRAC fractional bits, is s rounded (with a warning naming the layer when fewer
  than QUIET_SCALE_BITS significant bits remain);
* b is exact (a quantized bias, e.g. of the ApplyAlpha that carries a QKeras alpha scale and the
  layer's quantized bias, has few fractional bits, and Keras adds it exactly: rounding it to the
  product's grid made such layers differ from Keras); only a bias needing more than MAX_EXACT_FRAC
  fractional bits is rounded, to the product's grid (x.frac + s.frac);
* a Precision the user forces for 'scale' or 'bias' in the layer's config is used as it is.

The reference reads the same codes back from the weight variables and their types.  Whether a
BatchNorm stays a layer at all is ``passes/fuse_batchnorm.py``'s decision.
"""
from __future__ import annotations

import warnings

import numpy as np
from hls4ml.model.layers import BatchNormalization

from toolchain.arith import fixed
from toolchain.arith.fixed import FixedType
from toolchain.backends.exact.dispatch import exact_type
from toolchain.backends.exact.node import fixed_or_none, input_type, set_if_unspecified, user_forced
from toolchain.backends.hls_types import from_fixed
from toolchain.errors import ArithValueError, UnsupportedError
from toolchain.kernels.plan import capped_type, exact_codes

EXACT_SCALE_FRAC = 24  # BatchNorm scales that are not exact within this many fractional bits are rounded
MAX_PRODUCT_WIDTH = 62  # input width + scale width, so that x * s + b fits the reference's int64 codes
QUIET_SCALE_BITS = 20  # a scale rounded to fewer significant bits than this gets a warning


def bn_parameters(node) -> tuple[np.ndarray, np.ndarray]:
    """(scale, bias) of a BatchNormalization node, with QKeras QBatchNormalization quantizers applied.

    hls4ml computes ``scale = gamma / sqrt(var + eps)`` and ``bias = beta - scale * mean`` from the raw
    parameters; QKeras quantizes gamma, beta, mean and variance first.  Idempotent: the node's scale and
    bias variables are replaced once and the node marked.
    """
    scale = np.asarray(node.get_weights("scale").data, dtype=np.float32)
    bias = np.asarray(node.get_weights("bias").data, dtype=np.float32)
    if node.get_attr("arith_bn_params_done") or node.class_name != "BatchNormalization":
        return scale, bias
    quantizers = {k: node.get_attr(f"{k}_quantizer") for k in ("gamma", "beta", "mean", "variance")}
    if node.get_attr("variance_data") is None or all(q is None for q in quantizers.values()):
        node.set_attr("arith_bn_params_done", True)
        return scale, bias

    def param(name: str, default: float, used: bool = True) -> np.ndarray:
        data = node.get_attr(f"{name}_data")
        data = np.broadcast_to(np.asarray(default if data is None else data, dtype=np.float32), scale.shape).copy()
        if quantizers[name] is not None and used:  # QKeras skips gamma/beta quantizers when scale/center is off
            data = np.asarray(quantizers[name](data), dtype=np.float32).reshape(scale.shape)
        return data

    gamma = param("gamma", 1.0, bool(node.get_attr("use_gamma", True)))
    beta = param("beta", 0.0, bool(node.get_attr("use_beta", True)))
    mean, var = param("mean", 0.0), param("variance", 1.0)
    eps = np.float32(node.get_attr("epsilon", 1e-3))
    # as tf.nn.batch_normalization computes it, in float32: inv = rsqrt(var + eps) * gamma
    inv = (np.float32(1.0) / np.sqrt(var + eps)).astype(np.float32) * gamma
    scale, bias = inv.astype(np.float32), (beta - mean * inv).astype(np.float32)
    node.get_weights("scale").data = scale.reshape(node.get_weights("scale").data.shape)
    node.get_weights("bias").data = bias.reshape(node.get_weights("bias").data.shape)
    node.set_attr("arith_bn_params_done", True)
    return scale, bias


def _bn_codes(node, data: np.ndarray, what: str, max_width: int | None = None,
              max_frac: int | None = None) -> tuple[np.ndarray, int]:
    """Codes and fractional bits of a BatchNorm scale or bias (see the policy above)."""
    data = np.asarray(data, dtype=np.float64).reshape(-1)
    if user_forced(node, what):
        attr = node.get_attr(f"{what}_t")
        forced = fixed_or_none(attr.precision if attr is not None else None)
        if forced is not None:
            return fixed.quantize(data, forced), forced.frac
    if max_frac is not None:  # the bias: exact, or (beyond MAX_EXACT_FRAC) rounded to the product's grid
        try:
            codes, frac = exact_codes(data, None)
        except ArithValueError:
            t = FixedType(fixed.MAX_WIDTH, fixed.MAX_WIDTH - max_frac, True, "AP_RND_CONV", "AP_SAT")
            codes, frac = fixed.quantize(data, t), max_frac
    else:
        codes, frac = _exact_or_rounded(node, data, what)
    if max_width is not None and codes.size and fixed.bits_for_range(min(int(codes.min()), 0),
                                                                     max(int(codes.max()), 0), True) > max_width:
        drop = fixed.bits_for_range(min(int(codes.min()), 0), max(int(codes.max()), 0), True) - max_width
        while True:
            t = FixedType(fixed.MAX_WIDTH, fixed.MAX_WIDTH - (frac - drop), True, "AP_RND_CONV", "AP_SAT")
            rounded = fixed.requantize(codes, frac, t)
            if fixed.bits_for_range(min(int(rounded.min()), 0), max(int(rounded.max()), 0), True) <= max_width:
                break
            drop += 1
        if max_width < QUIET_SCALE_BITS:  # 20 bits and more: relative error below 2**-19, float32-like
            warnings.warn(f"layer {node.name}: {what} rounded to {max_width} bits so that input x {what} stays "
                          f"within {MAX_PRODUCT_WIDTH} bits", stacklevel=3)
        codes, frac = rounded, frac - drop
    return codes, frac


@exact_type.register
def _(node: BatchNormalization) -> None:
    x = input_type(node)
    if x.width > MAX_PRODUCT_WIDTH - 8:
        raise UnsupportedError(f"layer {node.name}: input type {x} is too wide for a BatchNorm scale of 8 bits or "
                               f"more (input + scale <= {MAX_PRODUCT_WIDTH} bits); force a narrower type on its input",
                               layer=node.name)
    scale_var, bias_var = node.get_weights("scale"), node.get_weights("bias")
    scale, bias = bn_parameters(node)
    s_codes, s_frac = _bn_codes(node, scale, "scale", max_width=MAX_PRODUCT_WIDTH - x.width)
    b_codes, b_frac = _bn_codes(node, bias, "bias", max_frac=x.frac + s_frac)
    s_t = fixed.type_for_range(min(int(s_codes.min()), 0), max(int(s_codes.max()), 0), s_frac, signed=True)
    b_t = fixed.type_for_range(min(int(b_codes.min()), 0), max(int(b_codes.max()), 0), b_frac, signed=True)
    # replace the variables outright: hls4ml may hold the scale as an exponent (po2 alpha) variable
    for name, var, codes, frac, t in (("scale", scale_var, s_codes, s_frac, s_t),
                                      ("bias", bias_var, b_codes, b_frac, b_t)):
        node.add_weights_variable(name=name, var_name=var.name, type_name=f"{name}{node.index}_t",
                                  precision=from_fixed(t), data=fixed.to_float(codes, frac).reshape(var.data.shape))
        node.set_attr(f"{name}_t", node.get_weights(name).type)
    # exact range of x*s + b
    frac = max(x.frac + s_frac, b_frac)
    prods = [x.min_code * s_codes.astype(object), x.max_code * s_codes.astype(object)]
    b_al = b_codes.astype(object) * (1 << (frac - b_frac))
    lo = min(int(v) for p in prods for v in (p * (1 << (frac - x.frac - s_frac)) + b_al))
    hi = max(int(v) for p in prods for v in (p * (1 << (frac - x.frac - s_frac)) + b_al))
    if fixed.bits_for_range(min(lo, 0), max(hi, 0), True) > fixed.MAX_WIDTH:
        raise UnsupportedError(f"layer {node.name}: x * scale + bias needs more than {fixed.MAX_WIDTH} bits with the "
                               "forced scale/bias types; force narrower ones", layer=node.name, key="Precision")
    set_if_unspecified(node, capped_type(lo, hi, frac, signed=True))


def _exact_or_rounded(node, data: np.ndarray, what: str) -> tuple[np.ndarray, int]:
    data = np.asarray(data, dtype=np.float64).reshape(-1)
    try:
        return exact_codes(data, None)
    except ArithValueError:
        t = FixedType(EXACT_SCALE_FRAC + 8, 8, True, "AP_RND_CONV", "AP_SAT")
        warnings.warn(f"layer {node.name}: {what} values are not exact in {EXACT_SCALE_FRAC} fractional bits; "
                      f"rounded to {t}", stacklevel=2)
        return fixed.quantize(data, t), t.frac
