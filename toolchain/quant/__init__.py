"""Training side of arith4ml: quantizers, residue regularizer, PoT pruning, ESSOP, approximate layers.

Importing this package imports TensorFlow and QKeras, registers the
quantizers, regularizer and layers as Keras custom objects (so
``tf.keras.models.load_model(path)`` works without ``custom_objects`` once
``toolchain.quant`` is imported; :data:`CUSTOM_OBJECTS` holds them for an
explicit ``custom_objects=``), and teaches hls4ml's QKeras parser about
``quantized_pot`` (:mod:`toolchain.quant.hls`).
"""
from __future__ import annotations

import tensorflow as tf

from toolchain.quant import hls as _hls
from toolchain.quant.approx_layers import ApproxConv2D, ApproxDense, parse_multiplier, to_approx
from toolchain.quant.essop import EssopTrainer, essop_dense_step
from toolchain.quant.pruning import PotPruning, pot_sparsity
from toolchain.quant.quantizers import (
    QUANTIZERS,
    bits_per_weight,
    code_scale,
    nk_ternary,
    pot_ternary,
    quantized_pot,
    weight_codes,
)
from toolchain.quant.regularizer import (
    ResidueRegularizer,
    optimize_residues,
    residue_sparsity,
    weight_sparsity,
    with_regularizer,
)

CUSTOM_OBJECTS: dict = {}


def _register() -> None:
    import qkeras

    qk: dict = {}
    qkeras.utils._add_supported_quantized_objects(qk)
    CUSTOM_OBJECTS.update(qk)
    CUSTOM_OBJECTS.update({c.__name__: c for c in (quantized_pot, pot_ternary, nk_ternary, ResidueRegularizer,
                                                   ApproxDense, ApproxConv2D)})
    tf.keras.utils.get_custom_objects().update(CUSTOM_OBJECTS)


_register()
_hls.install()


def load_model(path, **kwargs):
    """``tf.keras.models.load_model`` with QKeras and arith4ml custom objects."""
    kwargs.setdefault("custom_objects", CUSTOM_OBJECTS)
    return tf.keras.models.load_model(path, **kwargs)


__all__ = [
    "quantized_pot", "pot_ternary", "nk_ternary", "QUANTIZERS", "code_scale", "weight_codes", "bits_per_weight",
    "ResidueRegularizer", "optimize_residues", "residue_sparsity", "weight_sparsity", "with_regularizer",
    "PotPruning", "pot_sparsity", "ApproxDense", "ApproxConv2D", "parse_multiplier", "to_approx",
    "EssopTrainer", "essop_dense_step", "CUSTOM_OBJECTS", "load_model",
]
