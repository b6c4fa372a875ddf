"""One pass, in graph order: plan every Dense/Conv layer and give every layer an exact type.

It runs before hls4ml's ``infer_precision_types`` so that each layer sees its
input's final type.  Types the user (or a quantizer) set explicitly are kept;
a dot-product layer whose forced type is narrower than exact gets a warning
naming it.  Inferred result types are exact up to ``RESULT_WIDTH_CAP`` bits
(see ``toolchain.backends.plan``); wider ones keep their integer bits and round
the lowest fractional bits.

The module also holds ``ArithFuseBatchNormalization``, the backends' replacement
for hls4ml's ``fuse_batch_normalization`` (see its docstring for the policy).
"""
from __future__ import annotations

import warnings

import numpy as np
from hls4ml.model.optimizer import OptimizerPass
from hls4ml.model.optimizer.passes.bn_fuse import FuseBatchNormalization
from hls4ml.model.types import IntegerPrecisionType

from toolchain.arith import fixed, rns, ternary
from toolchain.arith.fixed import FixedType
from toolchain.backends.hls_types import from_fixed, is_unspecified, to_fixed
from toolchain.backends.plan import CONFIG_KEYS, Geometry, build_plan, capped_type, exact_codes
from toolchain.errors import Arith4mlError, UnsupportedError

DOT_LAYERS = ("Dense", "Conv1D", "Conv2D", "PointwiseConv1D", "PointwiseConv2D")
PASS_THROUGH = ("Input", "Reshape", "Repack", "Transpose", "ZeroPadding1D", "ZeroPadding2D", "Clone")
SUPPORTED = DOT_LAYERS + ("Activation (relu, linear)", "BatchNormalization", "QBatchNormalization", "ApplyAlpha",
                          "MaxPooling1D/2D", "AveragePooling1D/2D and GlobalAverage/MaxPooling1D/2D (power-of-two "
                          "windows)", "Flatten", "ZeroPadding1D/2D", "Add", "Dropout (removed)",
                          "Softmax (removed: logits)")
POOLING = ("Pooling1D", "Pooling2D", "GlobalPooling1D", "GlobalPooling2D")
EXACT_SCALE_FRAC = 24  # BatchNorm scales that are not exact within this many fractional bits are rounded
MAX_PRODUCT_WIDTH = 62  # BatchNorm: input width + scale width, so that x * s + b fits the reference's int64 codes
QUIET_SCALE_BITS = 20  # a BatchNorm scale rounded to fewer significant bits than this gets a warning


class ArithExactTypes(OptimizerPass):
    """Plan dot-product layers and set exact result types, layer by layer in graph order."""

    def match(self, node) -> bool:
        return getattr(node.model.config.backend, "arith_kind", None) is not None and not node.get_attr("arith_done")

    def transform(self, model, node) -> bool:
        cls = node.class_name
        try:
            if cls == "Softmax":
                return _remove_softmax(model, node)
            if cls in DOT_LAYERS:
                _plan_dot(model, node)
            elif cls in ("Activation", "ReLU"):
                _activation(node)
            elif cls in ("BatchNormalization", "ApplyAlpha"):
                _batchnorm(node)
            elif cls in POOLING:
                _pooling(node)
            elif cls == "Merge":
                _merge(node)
            elif cls == "Clone":  # io_stream copies of a tensor used twice (skip connections)
                for out in node.outputs:
                    node.get_output_variable(out).type.precision = from_fixed(input_type(node))
            elif cls in PASS_THROUGH:
                if cls != "Input":
                    _set_if_unspecified(node, input_type(node))
            else:
                raise UnsupportedError(f"layer {node.name} of type {cls} is not supported by the "
                                       f"{model.config.backend.name} backend; supported: {', '.join(SUPPORTED)}")
        except Arith4mlError:
            raise
        except ValueError as exc:  # arithmetic references name the value; add the layer
            raise UnsupportedError(f"layer {node.name}: {exc}") from None
        node.set_attr("arith_done", True)
        return False


def input_type(node, i: int = 0) -> FixedType:
    var = node.get_input_variable(node.inputs[i])
    return to_fixed(var.type.precision, f"input of layer {node.name}")


def user_forced(node, key: str = "result") -> bool:
    """True if the layer's own config sets Precision[key] (not 'auto').

    hls4ml's early ``infer_precision_types`` fills 'auto' types with guesses
    (e.g. accum = fixed<16,6>), so the type on the node cannot tell us; the
    config can.  Model-level defaults do not count as forcing a layer.
    """
    cfg = node.model.config.get_layer_config(node) or {}
    precision = cfg.get("Precision")
    value = precision.get(key) if isinstance(precision, dict) else (precision if key == "result" else None)
    return value is not None and str(value).strip().lower() != "auto"


def result_type(node) -> FixedType | None:
    """The layer's result type if the user forced it, else None (infer exactly)."""
    if not user_forced(node, "result"):
        return None
    return to_fixed(node.get_output_variable().type.precision, f"result of layer {node.name}")


def _set_if_unspecified(node, t: FixedType) -> None:
    """Give the layer the exact type ``t`` unless its result type was forced by the user or a quantizer."""
    if not user_forced(node, "result") or is_unspecified(node.get_output_variable().type.precision):
        node.get_output_variable().type.precision = from_fixed(t)


def _remove_softmax(model, node) -> bool:
    cfg = model.config.get_layer_config(node) or {}
    if cfg.get("Softmax", "logits") != "logits":
        raise UnsupportedError(f"layer {node.name}: softmax tables are not modelled by the reference; "
                               "leave 'Softmax: logits' (the default) and apply softmax on the host")
    model.remove_node(node)
    return True


def _activation(node) -> None:
    act = str(node.get_attr("activation", "")).lower()
    x = input_type(node)
    if act == "relu":  # the non-negative half of the input's range, unsigned
        _set_if_unspecified(node, capped_type(0, max(x.max_code, 0), x.frac, signed=False))
    elif act == "linear":
        _set_if_unspecified(node, capped_type(x.min_code, x.max_code, x.frac, signed=x.signed))
    else:
        raise UnsupportedError(f"layer {node.name}: activation '{act}' is not supported (relu, quantized_relu, linear are)")


def pool_size(node) -> int:
    """Values per pooling window (the whole map for global pooling)."""
    g = node.get_attr
    return {"Pooling1D": lambda: int(g("pool_width")),
            "Pooling2D": lambda: int(g("pool_height")) * int(g("pool_width")),
            "GlobalPooling1D": lambda: int(g("n_in")),
            "GlobalPooling2D": lambda: int(g("in_height")) * int(g("in_width"))}[node.class_name]()


def _pooling(node) -> None:
    """Max pooling keeps the input type.  Average pooling over N = 2**k values is exact: hls4ml sums in
    accum_t and divides by N there (io_parallel) or in the quotient's type (io_stream, which keeps
    accum_t's fractional bits), so accum_t gets k more integer bits for the sum and k more fractional
    bits for the quotient; the average lies in the input's range, on a grid k bits finer.  Other N would
    divide inexactly and padded windows change N at the borders (hls4ml's max-pool padding value is
    also wrong for unsigned types), so both are refused."""
    op = str(node.get_attr("pool_op", "")).lower()
    pads = [int(node.get_attr(k, 0) or 0) for k in ("pad_top", "pad_bottom", "pad_left", "pad_right")]
    if any(pads):
        raise UnsupportedError(f"layer {node.name}: padded pooling is not supported (pads {pads}); use "
                               "padding='valid' or input sizes the pool divides")
    x = input_type(node)
    if op == "max":
        acc, result = x, x
    elif op == "average":
        n = pool_size(node)
        if n & (n - 1):
            raise UnsupportedError(f"layer {node.name}: average pooling over {n} values is not exact; only "
                                   "power-of-two windows (2, 4, 8, 16, ...) are supported")
        k = n.bit_length() - 1
        acc = fixed.type_for_range(x.min_code << (2 * k), x.max_code << (2 * k), x.frac + k, signed=x.signed)
        result = capped_type(x.min_code << k, x.max_code << k, x.frac + k, signed=x.signed)
    else:
        raise UnsupportedError(f"layer {node.name} ({node.class_name}, {op} pooling) is not supported; "
                               "max and average pooling are")
    _set_if_unspecified(node, result)
    # hls4ml's early type inference set accum_t from the input type of that time: it must follow the
    # input's final type (a forced accum_t is kept for max pooling, where the reference models it)
    if node.get_attr("accum_t") is not None and (op == "average" or not user_forced(node, "accum")):
        node.get_attr("accum_t").precision = from_fixed(acc)


# ---- BatchNormalization / ApplyAlpha ----------------------------------------------------------------
#
# A BatchNorm that stays a layer of its own computes ``y = x * s + b`` per channel in hls4ml's
# normalize kernels: one product of the input with an exactly represented scale, one addition, one
# cast to the result type.  We pick the scale and bias codes and infer the result type so that this
# is exact (up to RESULT_WIDTH_CAP bits):
#   * QBatchNormalization: s and b are computed from the *quantized* gamma/beta/mean/variance as QKeras
#     does at inference (stock hls4ml ignores these quantizers and so disagrees with Keras);
#   * s is represented exactly (float32 scales are, with <= 24 significant bits); only if x and s
#     together would pass MAX_PRODUCT_WIDTH bits (a 40-bit input leaves 22 bits for s), or s needs more
#     than MAX_EXACT_FRAC fractional bits, is s rounded (with a warning naming the layer when fewer
#     than QUIET_SCALE_BITS significant bits remain);
#   * b is exact unless it has fractional bits below the product's grid (x.frac + s.frac): then it is
#     rounded to that grid, which adds no fractional bits to the result (an error below half an LSB of
#     the product, far below anything Keras' float32 resolves);
#   * a Precision the user forces for 'scale' or 'bias' in the layer's config is used as it is.
# The reference reads the same codes back from the weight variables and their types.


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
        forced = _fixed_or_none(attr.precision if attr is not None else None)
        if forced is not None:
            return fixed.quantize(data, forced), forced.frac
    if max_frac is not None:  # the bias: exact, or rounded to the product's grid
        try:
            codes, frac = exact_codes(data, None)
        except ValueError:
            codes, frac = None, max_frac + 1
        if frac > max_frac:
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


def _batchnorm(node) -> None:
    x = input_type(node)
    if x.width > MAX_PRODUCT_WIDTH - 8:
        raise UnsupportedError(f"layer {node.name}: input type {x} is too wide for a BatchNorm scale of 8 bits or more "
                               f"(input + scale <= {MAX_PRODUCT_WIDTH} bits); force a narrower type on its input")
    scale_var, bias_var = node.get_weights("scale"), node.get_weights("bias")
    scale, bias = bn_parameters(node)
    s_codes, s_frac = _bn_codes(node, scale, "scale", max_width=MAX_PRODUCT_WIDTH - x.width)
    b_codes, b_frac = _bn_codes(node, bias, "bias", max_frac=x.frac + s_frac)
    s_t = fixed.type_for_range(min(int(s_codes.min()), 0), max(int(s_codes.max()), 0), s_frac, signed=True)
    b_t = fixed.type_for_range(min(int(b_codes.min()), 0), max(int(b_codes.max()), 0), b_frac, signed=True)
    # replace the variables outright: hls4ml may hold the scale as an exponent (po2 alpha) variable
    for name, var, codes, frac, t in (("scale", scale_var, s_codes, s_frac, s_t), ("bias", bias_var, b_codes, b_frac, b_t)):
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
                               f"forced scale/bias types; force narrower ones")
    _set_if_unspecified(node, capped_type(lo, hi, frac, signed=True))


def _exact_or_rounded(node, data: np.ndarray, what: str) -> tuple[np.ndarray, int]:
    data = np.asarray(data, dtype=np.float64).reshape(-1)
    try:
        return exact_codes(data, None)
    except ValueError:
        t = FixedType(EXACT_SCALE_FRAC + 8, 8, True, "AP_RND_CONV", "AP_SAT")
        warnings.warn(f"layer {node.name}: {what} values are not exact in {EXACT_SCALE_FRAC} fractional bits; "
                      f"rounded to {t}", stacklevel=2)
        return fixed.quantize(data, t), t.frac


def _merge(node) -> None:
    op = str(node.get_attr("op", "")).lower()
    if op != "add":
        raise UnsupportedError(f"layer {node.name}: merge '{op}' is not supported (add is)")
    # the two branches may have different types (a BatchNorm and a quantized relu, say): align the
    # binary points, add the ranges; hls4ml's add computes the full-precision sum before the cast
    a, b = input_type(node, 0), input_type(node, 1)
    frac = max(a.frac, b.frac)
    lo = (a.min_code << (frac - a.frac)) + (b.min_code << (frac - b.frac))
    hi = (a.max_code << (frac - a.frac)) + (b.max_code << (frac - b.frac))
    if fixed.bits_for_range(min(lo, 0), max(hi, 0), True) > fixed.MAX_WIDTH:
        raise UnsupportedError(f"layer {node.name}: adding {a} and {b} exactly needs more than {fixed.MAX_WIDTH} "
                               "bits (their binary points are too far apart); force narrower input types")
    _set_if_unspecified(node, capped_type(lo, hi, frac))


def _geometry(node) -> Geometry:
    g = node.get_attr
    cls = node.class_name
    if cls == "Dense":
        return Geometry(n_chan=int(g("n_in")))
    if cls in ("Conv1D", "PointwiseConv1D"):
        return Geometry(in_width=int(g("in_width")), n_chan=int(g("n_chan")), filt_width=int(g("filt_width")),
                        out_width=int(g("out_width")), stride_width=int(g("stride_width")), pad_left=int(g("pad_left")))
    return Geometry(in_height=int(g("in_height")), in_width=int(g("in_width")), n_chan=int(g("n_chan")),
                    filt_height=int(g("filt_height")), filt_width=int(g("filt_width")),
                    out_height=int(g("out_height")), out_width=int(g("out_width")),
                    stride_height=int(g("stride_height")), stride_width=int(g("stride_width")),
                    pad_top=int(g("pad_top")), pad_left=int(g("pad_left")))


def _fixed_or_none(precision) -> FixedType | None:
    try:
        return None if is_unspecified(precision) else to_fixed(precision)
    except UnsupportedError:
        return None


def _layer_config(model, node) -> dict:
    cfg = model.config.get_layer_config(node) or {}
    model_cfg = model.config.config.get("HLSConfig", {}).get("Model", {})
    merged = {k: model_cfg[k] for k in CONFIG_KEYS if k in model_cfg}
    merged.update({k: cfg[k] for k in CONFIG_KEYS if k in cfg})
    return merged


def _quantizer_nk(node) -> tuple[int, int] | None:
    """(N, k) if the layer's weight quantizer is arith4ml's structured ternary quantizer."""
    q = node.get_attr("weight_quantizer")
    inner = getattr(q, "quantizer_object", None) or getattr(q, "quantizer", None)
    for obj in (inner, q):
        if obj is not None and hasattr(obj, "group_size") and hasattr(obj, "max_nonzero"):
            return int(obj.group_size), int(obj.max_nonzero)
    return None


def _plan_dot(model, node) -> None:
    backend = model.config.backend
    cfg = _layer_config(model, node)
    arithmetic = str(cfg.get("Arithmetic", "auto")).lower()
    allowed = backend.arithmetics
    if arithmetic not in allowed:
        raise UnsupportedError(f"layer {node.name}: Arithmetic '{arithmetic}' is not offered by the {backend.name} "
                               f"backend; choose one of {', '.join(allowed)}")
    nk = cfg.get("NK")
    if nk is None and (arithmetic == "nk" or backend.arith_kind == "bitshift"):
        nk = _quantizer_nk(node) or ((8, 2) if arithmetic == "nk" else None)
    reverse = str(cfg.get("Reverse", "crt")).lower()
    if reverse not in rns.REVERSE_CONVERSIONS:
        raise UnsupportedError(f"layer {node.name}: Reverse '{cfg.get('Reverse')}' is not a reverse conversion; "
                               "choose crt (Chinese remainder) or mrc (mixed radix)")
    weight_var = node.get_weights("weight")
    if "xnor" in type(weight_var.type.precision).__name__.lower():
        # hls4ml stores binary() kernels as XNOR bits (0 meaning -1) for its popcount kernel
        raise UnsupportedError(f"layer {node.name}: binary (XNOR) kernels are not supported by the "
                               f"{backend.name} backend; use ternary, quantized_po2 or quantized_bits weights")
    weights = np.asarray(weight_var.data, dtype=np.float64)
    bias_var = node.weights.get("bias")
    bias = None if bias_var is None else np.asarray(bias_var.data, dtype=np.float64)
    accum_precision = node.get_attr("accum_t").precision if user_forced(node, "accum") else None
    plan = build_plan(
        node.name, backend.arith_kind, _geometry(node), input_type(node), weights, bias,
        weight_type=_fixed_or_none(weight_var.type.precision),
        bias_type=_fixed_or_none(bias_var.type.precision) if bias_var is not None else None,
        result_type=result_type(node), accum_type=_fixed_or_none(accum_precision),
        nk=tuple(int(v) for v in nk) if nk is not None else None,
        moduli=tuple(cfg["Moduli"]) if cfg.get("Moduli") is not None else None,
        reverse=reverse)
    if arithmetic == "mult" and plan.kind != "rns":
        plan.kind = "mult"
    for note in plan.notes:
        if "narrower" in note:
            warnings.warn(f"layer {node.name}: {note}", stacklevel=2)
    _set_if_unspecified(node, plan.result_type)
    if node.get_attr("accum_t") is not None:
        node.get_attr("accum_t").precision = from_fixed(plan.acc_type)
    _add_plan_weights(node, plan)
    node.set_attr("arith_plan", plan)


def _int_precision(values: np.ndarray, signed: bool | None = None) -> IntegerPrecisionType:
    v = np.asarray(values, dtype=np.int64)
    lo, hi = (int(v.min()), int(v.max())) if v.size else (0, 0)
    if signed is None:
        signed = lo < 0
    return IntegerPrecisionType(fixed.bits_for_range(min(lo, 0), max(hi, 0), signed), signed=signed)


def _add(node, name: str, var_name: str, data: np.ndarray, signed: bool | None = None,
         precision: IntegerPrecisionType | None = None) -> None:
    data = np.asarray(data, dtype=np.int64)
    node.add_weights_variable(name=name, var_name=var_name + "{index}", precision=precision or _int_precision(data, signed),
                              data=data.reshape(-1))


def _add_plan_weights(node, plan) -> None:
    _add(node, "arith_bias", "ab", plan.bias_acc, signed=True)
    if plan.kind == "shift":
        _add(node, "arith_shift", "ash", plan.shifts, signed=False)
        _add(node, "arith_sign", "asg", plan.signs, signed=True)
    elif plan.kind == "nk":
        _add(node, "arith_code", "anc", plan.nk_codes, signed=False)
        _add(node, "arith_pattern", "anp", ternary.codebook(*plan.nk), signed=True)
        _add(node, "arith_shift", "ash", plan.shifts, signed=False)
    elif plan.kind == "mult":
        _add(node, "arith_weight", "aw", plan.w_codes << np.int64(plan.pre_shift), signed=True)
    elif plan.kind == "rns":
        # the type also holds the activations' residues: size it by the moduli, not by the weights
        _add(node, "arith_residue", "awr", plan.w_residues,
             precision=IntegerPrecisionType(fixed.bits_for_range(0, max(plan.moduli) - 1, False), signed=False))


# ---- BatchNorm fusion policy -------------------------------------------------------------------------


def _is_pow2_valued(values: np.ndarray) -> bool:
    """True if every non-zero value is +-2**e exactly (PoT and PoT-scaled ternary weights)."""
    try:
        codes, _ = exact_codes(np.asarray(values, dtype=np.float64), None)
    except ValueError:
        return False
    mag = np.abs(codes[codes != 0])
    return bool(np.all((mag & (mag - 1)) == 0))


class ArithFuseBatchNormalization(FuseBatchNormalization):
    """hls4ml's BatchNorm-into-Dense/Conv fusion, except where it would cost the layer its arithmetic.

    Folding ``y = s * (W x + c) + b`` into ``W' = s W`` saves a layer, and stock hls4ml does it for
    float layers (and for quantized ones when ``s`` is exactly 1).  But ``s`` is an arbitrary real per
    channel: folded power-of-two or ternary weights stop being powers of two, the layer loses its
    shift-add (or add/subtract) kernel and falls back to ``mult``, and RNS needs wider codes and
    moduli.  A separate BatchNorm costs one multiplication per output value, the folded layer one per
    weight, so the Bitshift and RNS backends keep the BatchNorm as its own exact scale/bias layer
    whenever the layer's weights are power-of-two valued and the folded ones would not be (they
    still fold a power-of-two ``s``, which keeps the weights PoT).  Layers whose weights are not PoT
    (float, ``quantized_bits``) are folded as in stock hls4ml; their plan says ``mult``, which is
    what the report shows.  QBatchNormalization's quantizers are applied before folding.
    """

    def match(self, node) -> bool:
        if getattr(node.model.config.backend, "arith_kind", None) is None or not super().match(node):
            return False
        parent = node.get_input_node()
        weights = np.asarray(parent.weights["weight"].data, dtype=np.float64)
        if not _is_pow2_valued(weights):
            return True
        scale, _ = bn_parameters(node)
        return _is_pow2_valued(np.asarray(scale, dtype=np.float64) * weights)

    def transform(self, model, node):
        bn_parameters(node)
        return super().transform(model, node)
