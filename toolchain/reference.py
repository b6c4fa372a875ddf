"""Integer-exact Python forward pass of a model converted by the Bitshift or RNS backend.

This is the oracle for C-simulation: it recomputes every layer on integer codes
with ``toolchain.arith`` (input quantization with the input type's rounding and
overflow, every accumulator, every result type) and never calls the C++.

``predict(hls_model, X)`` returns float64 values of the output codes; C-sim's
batch ``predict`` returns the same values bit for bit.
"""
from __future__ import annotations

import numpy as np

from toolchain.arith import fixed
from toolchain.arith.fixed import FixedType
from toolchain.errors import DataError, UnsupportedError
from toolchain.kernels.plan import DotPlan, Geometry

Tensor = tuple[np.ndarray, FixedType]  # int64 codes (batch, n_values), their type


def predict(hls_model, X: np.ndarray) -> np.ndarray:
    """Exact outputs (float64, shape (n, n_out)) of ``hls_model`` for raw float inputs ``X``."""
    from toolchain.backends.backend import check_input  # hls4ml import kept out of module import
    from toolchain.backends.hls_types import to_fixed

    in_vars, out_vars = hls_model.get_input_variables(), hls_model.get_output_variables()
    if len(in_vars) != 1 or len(out_vars) != 1:
        raise UnsupportedError(f"the reference models single-input, single-output networks; this one has "
                               f"{len(in_vars)} inputs and {len(out_vars)} outputs")
    x = check_input(X, int(in_vars[0].size()), in_vars[0].shape)
    tensors: dict[str, Tensor] = {}
    for node in hls_model.get_layers():
        out_type = to_fixed(node.get_output_variable().type.precision, f"result of layer {node.name}")
        if node.class_name == "Input":
            tensors[node.outputs[0]] = (fixed.quantize(x, out_type), out_type)
            continue
        inputs = [tensors[name] for name in node.inputs]
        if node.class_name == "Clone":  # io_stream: one copy of the input per consumer, each with its type
            for name in node.outputs:
                t = to_fixed(node.get_output_variable(name).type.precision, f"result of layer {node.name}")
                tensors[name] = (fixed.requantize(inputs[0][0], inputs[0][1].frac, t), t)
            continue
        tensors[node.outputs[0]] = (_layer(node, inputs, out_type), out_type)
    codes, t = tensors[hls_model.outputs[0]]  # node-output names, as node.outputs uses
    return fixed.to_float(codes, t)


def _layer(node, inputs: list[Tensor], out_type: FixedType) -> np.ndarray:
    cls = node.class_name
    plan = node.get_attr("arith_plan")
    if plan is not None:
        return dot_layer(plan, *inputs[0], out_type)
    (x, xt) = inputs[0]
    if cls in ("Activation", "ReLU"):
        act = str(node.get_attr("activation")).lower()
        if act == "relu":
            return fixed.requantize(np.maximum(x, 0), xt.frac, out_type)
        if act == "linear":
            return fixed.requantize(x, xt.frac, out_type)
    elif cls in ("BatchNormalization", "ApplyAlpha"):
        return _batchnorm(node, x, xt, out_type)
    elif cls in ("Pooling1D", "Pooling2D", "GlobalPooling1D", "GlobalPooling2D"):
        return _pool(node, x, xt, out_type)
    elif cls == "Merge" and str(node.get_attr("op")).lower() == "add":
        (y, yt) = inputs[1]
        frac = max(xt.frac, yt.frac)
        total = (x << np.int64(frac - xt.frac)) + (y << np.int64(frac - yt.frac))
        return fixed.requantize(total, frac, out_type)
    elif cls in ("Reshape", "Repack"):  # Repack: io_stream reshape
        return fixed.requantize(x, xt.frac, out_type)
    elif cls in ("ZeroPadding1D", "ZeroPadding2D"):
        return fixed.requantize(_zero_pad(node, x), xt.frac, out_type)
    raise UnsupportedError(f"reference: layer {node.name} ({cls}) is not modelled")


def _weight_codes(node, name: str) -> tuple[np.ndarray, int]:
    from toolchain.backends.hls_types import to_fixed

    var = node.get_weights(name)
    t = to_fixed(var.type.precision, f"{name} of layer {node.name}")
    return fixed.quantize(np.asarray(var.data, dtype=np.float64).reshape(-1), t), t.frac


def _batchnorm(node, x: np.ndarray, xt: FixedType, out_type: FixedType) -> np.ndarray:
    s, s_frac = _weight_codes(node, "scale")
    b, b_frac = _weight_codes(node, "bias")
    n = x.shape[1]
    idx = np.arange(n) % s.size  # hls4ml: norm_index = i % n_filt (per channel, channels last)
    frac = max(xt.frac + s_frac, b_frac)
    val = ((x * s[idx]) << np.int64(frac - xt.frac - s_frac)) + (b[idx] << np.int64(frac - b_frac))
    return fixed.requantize(val, frac, out_type)


def _zero_pad(node, x: np.ndarray) -> np.ndarray:
    """Zero padding, channels last (hls4ml inserts it before 'same' convolutions in io_stream)."""
    g = node.get_attr
    if node.class_name == "ZeroPadding1D":
        in_h, in_w, pads = 1, int(g("in_width")), ((0, 0), (int(g("pad_left")), int(g("pad_right"))))
    else:
        in_h, in_w = int(g("in_height")), int(g("in_width"))
        pads = ((int(g("pad_top")), int(g("pad_bottom"))), (int(g("pad_left")), int(g("pad_right"))))
    if g("data_format", "channels_last") != "channels_last":
        raise UnsupportedError(f"reference: layer {node.name}: only channels_last zero padding is modelled")
    img = x.reshape(x.shape[0], in_h, in_w, int(g("n_chan")))
    return np.pad(img, ((0, 0), *pads, (0, 0))).reshape(x.shape[0], -1)


def _pool(node, x: np.ndarray, xt: FixedType, out_type: FixedType) -> np.ndarray:
    """Max pooling, or average pooling over 2**k values (an exact sum read k bits finer), channels last."""
    from toolchain.backends.hls_types import to_fixed

    g = node.get_attr
    cls = node.class_name
    c = int(g("n_filt"))
    if cls in ("Pooling1D", "GlobalPooling1D"):
        in_h, in_w = 1, int(g("n_in"))
    else:
        in_h, in_w = int(g("in_height")), int(g("in_width"))
    if cls.startswith("Global"):
        (ph, pw), (sh, sw), (oh, ow) = (in_h, in_w), (in_h, in_w), (1, 1)
    elif cls == "Pooling1D":
        ph, pw, sh, sw, oh, ow = 1, int(g("pool_width")), 1, int(g("stride_width")), 1, int(g("n_out"))
    else:
        ph, pw = int(g("pool_height")), int(g("pool_width"))
        sh, sw = int(g("stride_height")), int(g("stride_width"))
        oh, ow = int(g("out_height")), int(g("out_width"))
    pads = [int(g(k, 0) or 0) for k in ("pad_top", "pad_bottom", "pad_left", "pad_right")]
    if any(pads):
        raise UnsupportedError(f"reference: layer {node.name}: padded pooling is not modelled; use padding='valid'")
    op = str(g("pool_op")).lower()
    img = x.reshape(-1, in_h, in_w, c)
    windows = [img[:, dh:dh + sh * (oh - 1) + 1:sh, dw:dw + sw * (ow - 1) + 1:sw, :]
               for dh in range(ph) for dw in range(pw)]
    if op == "max":
        out, frac = np.max(np.stack(windows), axis=0).reshape(x.shape[0], -1), xt.frac
        acc = node.get_attr("accum_t")
        if acc is not None:  # the max is returned in accum_t (the input type unless the user forced one)
            acc_t = to_fixed(acc.precision, f"accum of layer {node.name}")
            out, frac = fixed.requantize(out, frac, acc_t), acc_t.frac
        return fixed.requantize(out, frac, out_type)
    n = ph * pw
    if op != "average" or n & (n - 1):
        raise UnsupportedError(f"reference: layer {node.name}: {op} pooling over {n} values is not modelled")
    # exact in accum_t (see backends/exact/pooling.py)
    total = np.sum(np.stack(windows), axis=0).reshape(x.shape[0], -1)
    return fixed.requantize(total, xt.frac + n.bit_length() - 1, out_type)


def patches(x: np.ndarray, g: Geometry) -> np.ndarray:
    """im2col: int64 (batch * out_h * out_w, filt_h * filt_w * n_chan), Keras patch order, zero padding."""
    n = x.shape[0]
    img = x.reshape(n, g.in_height, g.in_width, g.n_chan)
    pad_h = max(0, (g.out_height - 1) * g.stride_height + g.filt_height - g.in_height - g.pad_top)
    pad_w = max(0, (g.out_width - 1) * g.stride_width + g.filt_width - g.in_width - g.pad_left)
    img = np.pad(img, ((0, 0), (g.pad_top, pad_h), (g.pad_left, pad_w), (0, 0)))
    cols = np.empty((n, g.out_height, g.out_width, g.filt_height, g.filt_width, g.n_chan), dtype=np.int64)
    for fh in range(g.filt_height):
        for fw in range(g.filt_width):
            cols[:, :, :, fh, fw, :] = img[:, fh:fh + g.stride_height * (g.out_height - 1) + 1:g.stride_height,
                                           fw:fw + g.stride_width * (g.out_width - 1) + 1:g.stride_width, :]
    return cols.reshape(n * g.out_height * g.out_width, g.n_in)


def dot_accumulator(plan: DotPlan, cols: np.ndarray) -> np.ndarray:
    """Exact accumulator codes (rows of cols, n_out) on the plan's grid, computed the way its kernel does."""
    return plan.kernel.accumulate(plan, cols) + plan.bias_acc[None, :]


def dot_layer(plan: DotPlan, x: np.ndarray, xt: FixedType, out_type: FixedType | None = None) -> np.ndarray:
    """Output codes (batch, out_h * out_w * n_out) of a planned Dense/Conv layer."""
    if xt != plan.x_type:
        raise DataError(f"reference: layer {plan.layer} planned for input {plan.x_type}, got {xt}")
    n = x.shape[0]
    acc = dot_accumulator(plan, patches(x, plan.geometry))
    acc = fixed.requantize(acc, plan.acc_frac, plan.acc_type)
    out = fixed.requantize(acc, plan.acc_type.frac, out_type or plan.result_type)
    return out.reshape(n, -1)
