"""Teach hls4ml's QKeras parser about the arith4ml quantizers.

hls4ml 1.3 picks a weight quantizer by the serialised ``class_name``
(``hls4ml.converters.keras.qkeras.get_quantizer_from_config``):

* ``pot_ternary`` / ``nk_ternary`` contain ``"ternary"``, so the stock
  ``QKerasQuantizer`` wraps them (weights typed ``ap_int<2>``; for ``nk_ternary``
  :func:`install` adds ``group_size = N`` and ``max_nonzero = k`` to that
  wrapper, which is where the Bitshift backend looks for the (N,k) code); because their
  ``alpha`` is ``"auto_po2"`` hls4ml's ``QKerasFactorizeAlpha`` pass divides
  the power-of-two scale out of the weights (leaving exactly ``{-1, 0, +1}``)
  and inserts an ``ApplyAlpha`` layer ``<layer>_alpha`` holding the scale
  ``a`` per output channel (exponent-typed) and the bias.  Nothing to patch.
* ``quantized_pot`` would fall through to "Unsupported quantizer" with
  ``ap_fixed<16,6>``, which cannot hold every ``2**e`` and the stock
  ``quantized_po2`` route (exponent type) cannot hold zero.  :func:`install`
  wraps ``get_quantizer_from_config`` so that ``quantized_pot`` becomes a
  :class:`PotHLSQuantizer`: weights are exactly ``pot.decode(pot.quantize(...))``
  and typed ``ap_fixed<e_max - e_min + 2, e_max + 2>``, which holds every
  ``±2**e`` of the range and 0 exactly.  Every other class is passed on.

It also registers layer handlers (hls4ml's ``register_keras_v2_layer_handler``) for
``ApproxDense`` and ``ApproxConv2D``: each is parsed as hls4ml's Dense/Conv2D, with the
kernel quantized to the layer's ``ap_fixed<8, weight_integer, AP_RND, AP_SAT>`` by an
:class:`ApproxWeightQuantizer` (so BatchNorm is never folded into it, as for any quantized
layer), and the layer's multipliers, assignment and ``input_integer`` as node attributes
(``keras_approx``, ``keras_input_integer``, ``keras_weight_integer``) that the Approx backend's
kernel reads when the config does not set ``Approx``, ``ApproxInputInteger``, ``ApproxWeightInteger``.

:func:`install` is idempotent; ``import toolchain.quant`` calls it when
hls4ml is installed.
"""
from __future__ import annotations

import numpy as np

_INSTALLED = False


def _make_quantizer_class():
    from hls4ml.model.quantizers import Quantizer
    from hls4ml.model.types import FixedPrecisionType

    class PotHLSQuantizer(Quantizer):
        """hls4ml quantizer for ``quantized_pot``: exact ±2**e / 0 weights in an exact fixed type.

        Attributes for backends: ``bits``, ``max_exp``, ``e_min``, ``e_max``,
        ``zero_margin``, ``qkeras_config``; :meth:`codes` gives
        ``toolchain.arith.pot.PotCodes`` of quantized data.
        """

        def __init__(self, config):
            from toolchain.quant.quantizers import quantized_pot

            self.qkeras_config = config
            self.quantizer_fn = quantized_pot.from_config(dict(config["config"]))
            q = self.quantizer_fn
            self.max_exp, self.e_min, self.e_max = q.max_exp, q.e_min, q.e_max
            self.zero_margin = q.zero_margin
            self.alpha = None
            super().__init__(int(q.bits), FixedPrecisionType(width=q.e_max - q.e_min + 2, integer=q.e_max + 2,
                                                             signed=True))

        def __call__(self, data):
            return self.quantizer_fn.reference(np.asarray(data, dtype=np.float64))

        def codes(self, data):
            from toolchain.arith import pot

            return pot.decompose(np.asarray(data, dtype=np.float64))

        def serialize_state(self):
            return {"config": self.qkeras_config}

    return PotHLSQuantizer


PotHLSQuantizer = None
ApproxWeightQuantizer = None


def _make_approx_quantizer_class():
    from hls4ml.model.quantizers import Quantizer
    from hls4ml.model.types import FixedPrecisionType

    from toolchain.arith import fixed

    class _ApproxWeightQuantizer(Quantizer):
        """The 8-bit weight quantizer of an ApproxDense/ApproxConv2D: ``ap_fixed<8, integer, AP_RND, AP_SAT>``."""

        def __init__(self, integer: int):
            self.integer = int(integer)
            self.fixed_type = fixed.FixedType(8, self.integer, True, "AP_RND", "AP_SAT")
            super().__init__(8, FixedPrecisionType(width=8, integer=self.integer, signed=True, rounding_mode="AP_RND",
                                                   saturation_mode="AP_SAT"))

        def __call__(self, data):
            t = self.fixed_type
            return fixed.to_float(fixed.quantize(np.asarray(data, dtype=np.float64), t), t)

        def serialize_state(self):
            return {"integer": self.integer}

    return _ApproxWeightQuantizer


def _approx_attributes(layer: dict, config: dict) -> None:
    """Node attributes of an ApproxDense/ApproxConv2D (see the module docstring)."""
    layer["weight_quantizer"] = ApproxWeightQuantizer(int(config.get("weight_integer", 1)))
    layer["keras_approx"] = {"multipliers": list(config.get("multipliers") or ["exact"]),
                             "index": config.get("assignment")}
    layer["keras_input_integer"] = int(config.get("input_integer", 1))
    layer["keras_weight_integer"] = int(config.get("weight_integer", 1))


def _approx_handler(hls4ml_class: str, parse):
    def handler(keras_layer, input_names, input_shapes, data_reader):
        layer, shape = parse({**keras_layer, "class_name": hls4ml_class}, input_names, input_shapes, data_reader)
        _approx_attributes(layer, keras_layer["config"])
        return layer, shape

    return handler


def _register_approx_handlers() -> None:
    global ApproxWeightQuantizer
    from hls4ml.converters.keras.convolution import parse_conv2d_layer
    from hls4ml.converters.keras.core import parse_dense_layer
    from hls4ml.converters.keras_v2_to_hls import get_layer_handlers, register_keras_v2_layer_handler

    ApproxWeightQuantizer = _make_approx_quantizer_class()
    for keras_class, hls4ml_class, parse in (("ApproxDense", "Dense", parse_dense_layer),
                                             ("ApproxConv2D", "Conv2D", parse_conv2d_layer)):
        if keras_class not in get_layer_handlers():
            register_keras_v2_layer_handler(keras_class, _approx_handler(hls4ml_class, parse))


def install() -> bool:
    """Wrap hls4ml's QKeras quantizer lookup (once). Returns False if hls4ml is not installed."""
    global _INSTALLED, PotHLSQuantizer
    if _INSTALLED:
        return True
    try:
        import hls4ml.converters.keras.qkeras as hq
    except ImportError:
        return False
    if getattr(hq.get_quantizer_from_config, "_arith4ml", False):
        _register_approx_handlers()
        _INSTALLED = True
        return True
    PotHLSQuantizer = _make_quantizer_class()
    original = hq.get_quantizer_from_config

    def get_quantizer_from_config(keras_layer, quantizer_var):
        cfg = keras_layer["config"].get(f"{quantizer_var}_quantizer", None)
        if isinstance(cfg, dict) and cfg.get("class_name") == "quantized_pot":
            return PotHLSQuantizer(cfg)
        q = original(keras_layer, quantizer_var)
        if isinstance(cfg, dict) and cfg.get("class_name") == "nk_ternary" and q is not None:
            c = cfg.get("config", {})  # (N, k) for the Bitshift backend's table-decoded kernel
            q.group_size, q.max_nonzero = int(c.get("N", 8)), int(c.get("k", 2))
        return q

    get_quantizer_from_config._arith4ml = True
    get_quantizer_from_config._original = original
    hq.get_quantizer_from_config = get_quantizer_from_config
    _register_approx_handlers()
    _INSTALLED = True
    return True
