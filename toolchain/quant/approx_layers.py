"""Approximate-multiplier-aware Dense and Conv2D layers (MAx-DNN style), inference and fine-tuning.

Forward: inputs and kernel are quantized to signed 8-bit codes with
``toolchain.arith.fixed.quantize`` (``ap_fixed<8, I, AP_RND, AP_SAT>``; ``I`` =
``input_integer`` / ``weight_integer``), the products and sums are exactly
``toolchain.arith.approx.approx_matmul`` / ``approx_conv2d`` (called through
``tf.numpy_function``, so Keras and the reference agree by construction),
then scaled back by ``2**-(f_x + f_w)`` and the bias is added in float.
ROUP multipliers run by the closed form (integer matmul / conv of rounded
operands, no table); table multipliers by vectorised table gathers.

Backward: straight-through to the exact product ``x_q @ w_q`` (and the
quantizers are straight-through too).

Multiplier specs (strings, serialisable; ``toolchain.arith.approx.multiplier_from_spec``):
``"exact"``; ``"roup(K,M)"`` or ``"roup:K:M"`` (closed form); ``"roup_table:K:M"`` (the same
ROUP evaluated through its 256x256 table: for throughput comparisons); ``"table:PATH"`` (``.npy`` or raw
EvoApproxLib file, see ``toolchain.arith.approx.load_table``).

Granularity (``assignment``): ``None`` -> ``multipliers[0]`` for the whole
layer; a list of ``n_out`` indices into ``multipliers`` -> per filter
(output channel); an ``(n_out, n_in)`` nested list -> per kernel (output x
input channel; for Conv2D the same multiplier at every tap of a channel pair).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import tensorflow as tf

from toolchain.arith import approx as _ax
from toolchain.arith import fixed as _fx
from toolchain.errors import ArithValueError, ConfigError

BITS = _ax.BITS
integer_bits_for = _ax.integer_bits_for  # kept importable from here


@lru_cache(maxsize=64)
def _parse_cached(spec: str):
    try:
        return _ax.multiplier_from_spec(spec)
    except ArithValueError as exc:
        raise ConfigError(str(exc)) from None


def parse_multiplier(spec) -> _ax.Multiplier:
    """A :class:`toolchain.arith.approx.Multiplier` from a spec string (or a Multiplier, returned as is)."""
    if isinstance(spec, _ax.Multiplier):
        return spec
    if not isinstance(spec, str):
        raise ConfigError(f"multiplier spec {spec!r} must be a string such as 'roup(1,2)'")
    return _parse_cached(spec)


def _fixed_type(integer: int) -> _fx.FixedType:
    return _fx.FixedType(BITS, int(integer), True, "AP_RND", "AP_SAT")


class _ApproxMixin:
    """Shared quantization / assignment logic for ApproxDense and ApproxConv2D."""

    def _init_approx(self, multipliers, assignment, input_integer, weight_integer):
        if isinstance(multipliers, str) or isinstance(multipliers, _ax.Multiplier):
            multipliers = [multipliers]
        self.multiplier_specs = [m if isinstance(m, str) else m.name for m in multipliers]
        self._mults = tuple(parse_multiplier(m) for m in multipliers)
        if not self._mults:
            raise ConfigError(f"layer {self.name!r}: at least one multiplier is needed")
        self.assignment = None if assignment is None else np.asarray(assignment, dtype=np.int64).tolist()
        for name, v in (("input_integer", input_integer), ("weight_integer", weight_integer)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not -16 <= v <= 24:
                raise ConfigError(f"layer {self.name!r}: {name}={v!r} must be an integer (ap_fixed integer bits)")
        self.input_integer = int(input_integer)
        self.weight_integer = int(weight_integer)
        self.x_type = _fixed_type(self.input_integer)
        self.w_type = _fixed_type(self.weight_integer)

    def approx_assignment(self, n_out: int, n_in: int) -> _ax.Assignment:
        idx = np.zeros((), dtype=np.int64) if self.assignment is None else np.asarray(self.assignment, np.int64)
        return _ax.kernel_assignment(_ax.Assignment(self._mults, idx), n_out, n_in)

    # codes and values
    def input_codes(self, x) -> np.ndarray:
        return _fx.quantize(np.asarray(x, dtype=np.float64), self.x_type)

    def weight_codes(self) -> np.ndarray:
        return _fx.quantize(self.kernel.numpy().astype(np.float64), self.w_type)

    def quantized_kernel(self) -> np.ndarray:
        return _fx.to_float(self.weight_codes(), self.w_type)

    @property
    def bits_per_weight(self) -> float:
        return float(BITS)

    def _scale(self) -> float:
        return float(2.0 ** -(self.x_type.frac + self.w_type.frac))

    def _quant_ste(self, v, t: _fx.FixedType):
        def f(a):
            return _fx.to_float(_fx.quantize(a, t), t).astype(np.float32)

        vq = tf.ensure_shape(tf.numpy_function(f, [v], tf.float32, stateful=False), v.shape)

        @tf.custom_gradient
        def g(a):
            return tf.identity(vq), lambda dy: dy

        return g(v)

    def _approx_op(self, x, kernel, exact_fn, ref_fn):
        """Forward: the reference on integer codes; backward: gradient of ``exact_fn(x_q, w_q)``."""
        xq = self._quant_ste(x, self.x_type)
        wq = self._quant_ste(kernel, self.w_type)
        y_exact = exact_fn(xq, wq)

        def f(xv, wv):
            xc = _fx.quantize(xv.astype(np.float64), self.x_type)
            wc = _fx.quantize(wv.astype(np.float64), self.w_type)
            return (ref_fn(xc, wc).astype(np.float64) * self._scale()).astype(np.float32)

        y_apx = tf.numpy_function(f, [x, kernel], tf.float32, stateful=False)
        y_apx = tf.ensure_shape(y_apx, y_exact.shape)

        @tf.custom_gradient
        def g(y):
            return tf.identity(y_apx), lambda dy: dy

        return g(y_exact)

    def _bias_and_activation(self, y):
        if self.use_bias:
            y = tf.nn.bias_add(y, self.bias)
        return self.activation(y) if self.activation is not None else y

    def get_config(self):
        cfg = super().get_config()  # the Keras layer's (the mixin comes first in the MRO)
        cfg.update({"multipliers": list(self.multiplier_specs), "assignment": self.assignment,
                    "input_integer": self.input_integer, "weight_integer": self.weight_integer})
        return cfg


class ApproxDense(_ApproxMixin, tf.keras.layers.Dense):
    """Dense layer whose products follow approximate 8x8 multipliers (see module doc)."""

    def __init__(self, units, multipliers="exact", assignment=None, input_integer: int = 1, weight_integer: int = 1,
                 **kwargs):
        super().__init__(units, **kwargs)
        self._init_approx(multipliers, assignment, input_integer, weight_integer)

    def build(self, input_shape):
        super().build(input_shape)
        self._asg = self.approx_assignment(self.units, int(self.kernel.shape[0]))

    def reference_codes(self, x) -> np.ndarray:
        """``approx_matmul`` of the integer codes (int64), the exact product sum of the layer."""
        return _ax.approx_matmul(self.input_codes(x), self.weight_codes(), self._asg)

    def call(self, inputs):
        x = tf.cast(inputs, tf.float32)
        y = self._approx_op(x, self.kernel, lambda a, b: tf.matmul(a, b),
                            lambda xc, wc: _ax.approx_matmul(xc, wc, self._asg))
        return self._bias_and_activation(y)


class ApproxConv2D(_ApproxMixin, tf.keras.layers.Conv2D):
    """Conv2D (channels last, dilation 1, groups 1) whose products follow approximate multipliers."""

    def __init__(self, filters, kernel_size, multipliers="exact", assignment=None, input_integer: int = 1,
                 weight_integer: int = 1, **kwargs):
        super().__init__(filters, kernel_size, **kwargs)
        if self.data_format != "channels_last" or tuple(self.dilation_rate) != (1, 1) or self.groups != 1:
            raise ConfigError(f"ApproxConv2D {self.name!r} supports channels_last, dilation 1, groups 1 only")
        self._init_approx(multipliers, assignment, input_integer, weight_integer)

    def build(self, input_shape):
        super().build(input_shape)
        self._asg = self.approx_assignment(self.filters, int(self.kernel.shape[2]))

    def reference_codes(self, x) -> np.ndarray:
        return _ax.approx_conv2d(self.input_codes(x), self.weight_codes(), self._asg, tuple(self.strides),
                                 self.padding)

    def call(self, inputs):
        x = tf.cast(inputs, tf.float32)
        strides, padding = tuple(self.strides), self.padding

        def exact(a, b):
            return tf.nn.conv2d(a, b, strides=strides, padding=padding.upper())

        def ref(xc, wc):
            return _ax.approx_conv2d(xc, wc, self._asg, strides, padding)

        return self._bias_and_activation(self._approx_op(x, self.kernel, exact, ref))


# --------------------------------------------------------------------------- conversion

def _kernel_layers(model):
    return [lyr for lyr in model.layers if type(lyr).__name__ in ("Dense", "QDense", "Conv2D", "QConv2D",
                                                             "ApproxDense", "ApproxConv2D")]


def to_approx(model, multipliers="exact", calib_x=None, assignment=None, layers=None):
    """Copy ``model`` with every Dense/Conv2D (and QDense/QConv2D) replaced by its approximate twin.

    ``multipliers``: spec(s) for all layers, or a dict ``{layer_name: spec or [specs]}``;
    ``assignment``: ``None`` (layer granularity), or a dict ``{layer_name: index list}``
    (filter / kernel granularity), or a callable ``(layer_name, n_out, n_in) -> index``.
    ``calib_x``: inputs used to choose each layer's ``input_integer`` from the
    largest input magnitude (default 1: inputs in ``[-1, 1)``); the weight
    integer bits come from the largest kernel magnitude.  Quantized layers
    contribute their quantized kernel.  Models must be functional or Sequential.
    """
    targets = [lyr for lyr in _kernel_layers(model) if layers is None or lyr.name in layers]
    in_max = {}
    if calib_x is not None and targets:
        probe = tf.keras.Model(model.inputs, [lyr.input for lyr in targets])
        outs = probe.predict(calib_x, verbose=0, batch_size=512)
        if len(targets) == 1:
            outs = [outs]
        in_max = {lyr.name: float(np.max(np.abs(o))) for lyr, o in zip(targets, outs)}
    target_names = {lyr.name for lyr in targets}
    new_kernels = {}

    def clone(layer):
        if layer.name not in target_names:
            return layer.__class__.from_config(layer.get_config())
        cfg = layer.get_config()
        kernel = layer.kernel.numpy()
        q = getattr(layer, "kernel_quantizer_internal", None)
        if q is not None:
            kernel = np.asarray(q(tf.convert_to_tensor(kernel)))
        new_kernels[layer.name] = kernel
        mult = multipliers.get(layer.name, "exact") if isinstance(multipliers, dict) else multipliers
        if callable(assignment):
            n_in = kernel.shape[-2] if kernel.ndim == 4 else kernel.shape[0]
            asg = assignment(layer.name, kernel.shape[-1], n_in)
        elif isinstance(assignment, dict):
            asg = assignment.get(layer.name)
        else:
            asg = assignment
        common = dict(multipliers=mult, assignment=None if asg is None else np.asarray(asg).tolist(),
                      input_integer=integer_bits_for(in_max.get(layer.name, 0.5)),
                      weight_integer=integer_bits_for(float(np.max(np.abs(kernel))) if kernel.size else 0.5),
                      activation=cfg["activation"] if isinstance(cfg["activation"], str) else "linear",
                      use_bias=cfg["use_bias"], name=cfg["name"])
        if "filters" in cfg:
            return ApproxConv2D(cfg["filters"], cfg["kernel_size"], strides=cfg["strides"], padding=cfg["padding"],
                                **common)
        return ApproxDense(cfg["units"], **common)

    new = tf.keras.models.clone_model(model, clone_function=clone)
    for old_l in model.layers:
        new_l = new.get_layer(old_l.name)
        if old_l.name in new_kernels:
            ws = [new_kernels[old_l.name]] + ([old_l.bias.numpy()] if getattr(old_l, "use_bias", False) else [])
            new_l.set_weights(ws)
        elif old_l.weights:
            new_l.set_weights(old_l.get_weights())
    return new
