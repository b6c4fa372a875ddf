"""Model builders: MLP, small CNN, ResNet-8-style CNN with skip connections.

Every builder takes a quantizer spec (one for all weight layers, or a dict
``{layer_name: spec}`` overriding it) and an optional residue regularizer.
A quantizer spec is ``None`` / ``"float"`` (plain Keras layer), or a dict
with ``name`` and parameters:

=================  ===========================================================
``pot``            :class:`toolchain.quant.quantized_pot` ``(bits=4, max_exp=0, zero_margin=0.5)``
``ternary``        :class:`toolchain.quant.pot_ternary` ``(threshold=0.7, per_channel=True)``
``nk_ternary``     :class:`toolchain.quant.nk_ternary` ``(N=8, k=2, threshold=0.7, per_channel=True)``
``bits``           QKeras ``quantized_bits(bits=8, integer=0, alpha=1)`` (uniform)
``po2``            QKeras ``quantized_po2(bits=4, max_value=None)`` (no zero level)
=================  ===========================================================

Layer names: input ``x_in`` (hls4ml reserves ``input``); MLP ``fc1, fc2, ..., out``;
CNN ``conv1, conv2, ..., fc1, out``;
ResNet-8 ``conv0, s{i}_conv{1,2}, s{i}_skip, out``.
"""
from __future__ import annotations

from typing import Any

import tensorflow as tf

from toolchain.errors import ConfigError

INPUT_NAME = "x_in"  # hls4ml reserves the layer name "input"
QUANTIZER_NAMES = ("float", "pot", "ternary", "nk_ternary", "bits", "po2")
_PARAMS = {
    "pot": ("bits", "max_exp", "zero_margin"),
    "ternary": ("threshold", "per_channel"),
    "nk_ternary": ("N", "k", "threshold", "per_channel"),
    "bits": ("bits", "integer"),
    "po2": ("bits", "max_value"),
    "float": (),
}


def make_quantizer(spec: Any, where: str = "quantizer"):
    """A quantizer object from a spec (see module doc); ``None`` for float."""
    import toolchain.quant as tq

    if spec is None or spec == "float":
        return None
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, dict):
        if hasattr(spec, "get_config"):
            return spec
        raise ConfigError(f"{where}: quantizer {spec!r} must be a name or a mapping with 'name'")
    name = spec.get("name")
    if name not in QUANTIZER_NAMES:
        raise ConfigError(f"{where}: unknown quantizer {name!r}; known: {', '.join(QUANTIZER_NAMES)}")
    params = {k: v for k, v in spec.items() if k != "name"}
    unknown = [k for k in params if k not in _PARAMS[name]]
    if unknown:
        raise ConfigError(f"{where}: quantizer {name!r} has no parameter {unknown[0]!r}; "
                          f"known: {', '.join(_PARAMS[name]) or 'none'}")
    if name == "float":
        return None
    if name == "pot":
        return tq.quantized_pot(**params)
    if name == "ternary":
        return tq.pot_ternary(**params)
    if name == "nk_ternary":
        return tq.nk_ternary(**params)
    from qkeras.quantizers import quantized_bits, quantized_po2

    for k in ("bits", "integer"):
        if k in params and (isinstance(params[k], bool) or not isinstance(params[k], int)):
            raise ConfigError(f"{where}: quantizer {name!r} parameter {k}={params[k]!r} must be an integer")
    if name == "bits":
        return quantized_bits(params.get("bits", 8), params.get("integer", 0), alpha=1)
    return quantized_po2(params.get("bits", 4), params.get("max_value"))


class _LayerFactory:
    """Creates Dense/QDense and Conv2D/QConv2D with the per-layer quantizer and regularizer."""

    def __init__(self, quantizer, regularizer: dict | None, seed: int | None):
        self.default = quantizer if not isinstance(quantizer, dict) or "name" in quantizer else None
        self.per_layer = quantizer if isinstance(quantizer, dict) and "name" not in quantizer else {}
        if isinstance(quantizer, dict) and "name" not in quantizer:
            self.default = self.per_layer.get("default")
        self.regularizer = regularizer
        self.seed = seed
        self._n = 0
        self.used: set = set()

    def _init(self):
        self._n += 1
        return tf.keras.initializers.GlorotUniform(seed=None if self.seed is None else self.seed * 1000 + self._n)

    def _quant_reg(self, name: str):
        self.used.add(name)
        spec = self.per_layer.get(name, self.default)
        q = make_quantizer(spec, where=f"model layer {name!r}")
        reg = None
        if self.regularizer and q is not None:
            from toolchain.quant import ResidueRegularizer, code_scale

            if code_scale(q) is not None:
                r = dict(self.regularizer)
                reg = ResidueRegularizer(r.pop("moduli"), r.pop("strength", 1e-4), q, **r)
        return q, reg

    def dense(self, units: int, name: str, activation=None):
        q, reg = self._quant_reg(name)
        if q is None:
            return tf.keras.layers.Dense(units, activation=activation, name=name, kernel_initializer=self._init())
        from qkeras import QDense

        return QDense(units, activation=activation, name=name, kernel_quantizer=q, kernel_regularizer=reg,
                      kernel_initializer=self._init())

    def conv(self, filters: int, kernel_size, name: str, strides=1, padding="same", activation=None):
        q, reg = self._quant_reg(name)
        if q is None:
            return tf.keras.layers.Conv2D(filters, kernel_size, strides=strides, padding=padding,
                                          activation=activation, name=name, kernel_initializer=self._init())
        from qkeras import QConv2D

        return QConv2D(filters, kernel_size, strides=strides, padding=padding, activation=activation, name=name,
                       kernel_quantizer=q, kernel_regularizer=reg, kernel_initializer=self._init())

    def check_used(self):
        extra = [n for n in self.per_layer if n != "default" and n not in self.used]
        if extra:
            raise ConfigError(f"model: quantizer given for layer {extra[0]!r}, which this model does not have "
                              f"(layers: {', '.join(sorted(self.used))})")


def _check_ints(values, what: str):
    if isinstance(values, int):
        values = [values]
    if not isinstance(values, (list, tuple)) or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                                                         for v in values):
        raise ConfigError(f"model {what}={values!r} must be a list of positive integers")
    return list(values)


def build_mlp(input_shape, n_classes: int = 10, hidden=(32, 32), quantizer=None, regularizer=None,
              seed: int | None = 0) -> tf.keras.Model:
    """MLP ``in -> fc1 .. fcN (ReLU) -> out (softmax)``; image inputs are flattened first."""
    hidden = _check_ints(hidden, "hidden")
    f = _LayerFactory(quantizer, regularizer, seed)
    inp = tf.keras.Input(tuple(input_shape), name=INPUT_NAME)
    h = inp if len(input_shape) == 1 else tf.keras.layers.Flatten(name="flatten")(inp)
    for i, u in enumerate(hidden, 1):
        h = f.dense(u, f"fc{i}", activation="relu")(h)
    out = f.dense(n_classes, "out", activation="softmax")(h)
    f.check_used()
    return tf.keras.Model(inp, out, name="mlp")


def _image_model_start(builder: str, input_shape, filters, quantizer, regularizer, seed):
    """Checked ``filters``, the layer factory and the input tensor of an image model (H, W, C)."""
    filters = _check_ints(filters, "filters")
    if len(input_shape) != 3:
        raise ConfigError(f"model '{builder}' needs image inputs (H, W, C); got shape {tuple(input_shape)} "
                          f"(use data view: image)")
    return filters, _LayerFactory(quantizer, regularizer, seed), tf.keras.Input(tuple(input_shape), name=INPUT_NAME)


def build_cnn(input_shape, n_classes: int = 10, filters=(8, 16), dense: int = 32, quantizer=None, regularizer=None,
              seed: int | None = 0) -> tf.keras.Model:
    """Small CNN: ``conv3x3(same)+ReLU`` per entry of ``filters``, 2x2 max-pool after each but the first, ``fc1``,
    ``out``."""
    filters, f, inp = _image_model_start("cnn", input_shape, filters, quantizer, regularizer, seed)
    h = inp
    for i, c in enumerate(filters, 1):
        h = f.conv(c, 3, f"conv{i}", activation="relu")(h)
        if i > 1:
            h = tf.keras.layers.MaxPooling2D(2, name=f"pool{i}")(h)
    h = tf.keras.layers.Flatten(name="flatten")(h)
    if dense:
        h = f.dense(int(dense), "fc1", activation="relu")(h)
    out = f.dense(n_classes, "out", activation="softmax")(h)
    f.check_used()
    return tf.keras.Model(inp, out, name="cnn")


def build_resnet8(input_shape, n_classes: int = 10, filters=(8, 16, 32), quantizer=None, regularizer=None,
                  seed: int | None = 0) -> tf.keras.Model:
    """ResNet-8 style (MLPerf Tiny): stem conv, three residual stacks of two 3x3 convs with a skip
    connection (1x1 conv when the shape changes), global average pooling, ``out``."""
    filters, f, inp = _image_model_start("resnet8", input_shape, filters, quantizer, regularizer, seed)
    h = f.conv(filters[0], 3, "conv0", activation="relu")(inp)
    prev = filters[0]
    for i, c in enumerate(filters, 1):
        stride = 1 if i == 1 else 2
        y = f.conv(c, 3, f"s{i}_conv1", strides=stride, activation="relu")(h)
        y = f.conv(c, 3, f"s{i}_conv2")(y)
        skip = h if (stride == 1 and c == prev) else f.conv(c, 1, f"s{i}_skip", strides=stride)(h)
        h = tf.keras.layers.Add(name=f"s{i}_add")([y, skip])
        h = tf.keras.layers.Activation("relu", name=f"s{i}_relu")(h)
        prev = c
    h = tf.keras.layers.GlobalAveragePooling2D(name="gap")(h)
    out = f.dense(n_classes, "out", activation="softmax")(h)
    f.check_used()
    return tf.keras.Model(inp, out, name="resnet8")


BUILDERS = {"mlp": build_mlp, "cnn": build_cnn, "resnet8": build_resnet8}


def build(builder: str, input_shape, n_classes: int, **kwargs) -> tf.keras.Model:
    if builder not in BUILDERS:
        raise ConfigError(f"model builder {builder!r} unknown; known: {', '.join(BUILDERS)}")
    return BUILDERS[builder](input_shape, n_classes, **kwargs)
