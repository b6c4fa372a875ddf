"""Residue regularizer, residue / weight sparsity figures and the post-processing fine-tune.

Project definition (docs/arithmetic.md): for the integer codes ``q`` of the quantized
weights (``q = quantizer(w) * code_scale``, straight-through through the
quantizer) the ``"sin2"`` penalty is ``R = lambda * sum_j sum_w sin^2(pi q / m_j)``,
zero exactly where ``q`` is a multiple of ``m_j``; it is the smooth count of
non-zero (weight, modulus) residue pairs, i.e. of the RNS terms hardware must
generate.  Variants (the ``variant`` argument):

* ``"sin2"``: the definition above (default).
* ``"any"``: ``lambda * sum_w prod_j sin^2(pi q / m_j)`` -- zero as soon as
  *one* channel is zero (many more minima, gentler on accuracy).
* ``"sin2+any"``: the sum of both.

Residue sparsity (:func:`residue_sparsity`) is computed with
``toolchain.arith.rns.residue_sparsity`` on the exact integer codes: the
fraction of (weight, modulus) pairs whose residue is 0; a zero weight counts
zero in every channel.
"""
from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np
import tensorflow as tf

from toolchain.arith import rns as _rns
from toolchain.errors import ArithValueError, ConfigError, DataError
from toolchain.quant.quantizers import bits_per_weight, code_scale, weight_codes

VARIANTS = ("sin2", "any", "sin2+any")


def _validate_moduli(moduli) -> tuple[int, ...]:
    try:
        return _rns.validate_moduli(moduli)
    except ArithValueError as exc:
        raise ConfigError(f"residue regularizer: {exc}") from None


def _get_quantizer(q):
    if q is None or not isinstance(q, dict):
        return q
    from qkeras.quantizers import get_quantizer

    return get_quantizer(q)


def _serialize_quantizer(q):
    if q is None or isinstance(q, dict):
        return q
    return {"class_name": type(q).__name__, "config": q.get_config()}


class ResidueRegularizer(tf.keras.regularizers.Regularizer):
    """Keras regularizer pulling the integer weight codes towards zero residues.

    ``moduli``: pairwise-coprime integers; ``strength``: ``lambda``;
    ``quantizer``: the layer's kernel quantizer (object or its serialised
    dict) -- it must have an integer code (``quantized_bits`` with alpha 1,
    ``quantized_pot``); ``variant``: ``"sin2"`` | ``"any"`` | ``"sin2+any"``.
    Without a quantizer the codes are ``round(w * scale)`` with ``scale``
    given by ``code_scale`` (default 1), straight-through.
    """

    def __init__(self, moduli=(7, 8, 9), strength: float = 1e-4, quantizer=None, variant: str = "sin2",
                 scale: float | None = None):
        self.moduli = _validate_moduli(moduli)
        if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not math.isfinite(strength) \
                or strength < 0:
            raise ConfigError(f"residue regularizer strength={strength!r} must be a finite number >= 0")
        if variant not in VARIANTS:
            raise ConfigError(f"residue regularizer variant {variant!r} unknown; known: {', '.join(VARIANTS)}")
        self.strength = float(strength)
        self.variant = variant
        self.quantizer = _get_quantizer(quantizer)
        if scale is None:
            scale = code_scale(self.quantizer) if self.quantizer is not None else 1.0
            if scale is None:
                raise ConfigError(f"residue regularizer: quantizer {self.quantizer} has no integer weight code "
                                  f"(use quantized_bits with alpha=1 or quantized_pot)")
        self.scale = float(scale)

    # -- the codes, straight-through
    def codes(self, w: tf.Tensor) -> tf.Tensor:
        if self.quantizer is not None:
            wq = self.quantizer(w)
            return wq * tf.cast(self.scale, wq.dtype)
        v = w * tf.cast(self.scale, w.dtype)
        return v + tf.stop_gradient(tf.round(v) - v)

    def __call__(self, w):
        q = self.codes(w)
        terms = [tf.square(tf.sin(tf.cast(math.pi / m, q.dtype) * q)) for m in self.moduli]
        total = tf.zeros((), dtype=q.dtype)
        if self.variant in ("sin2", "sin2+any"):
            total += tf.add_n([tf.reduce_sum(t) for t in terms])
        if self.variant in ("any", "sin2+any"):
            prod = terms[0]
            for t in terms[1:]:
                prod = prod * t
            total += tf.reduce_sum(prod)
        return tf.cast(self.strength, q.dtype) * total

    def numpy_value(self, codes: np.ndarray) -> float:
        """The penalty for integer codes, in float64 NumPy (for checks)."""
        codes = np.asarray(codes, dtype=np.float64)
        terms = [np.sin(np.pi * codes / m) ** 2 for m in self.moduli]
        total = 0.0
        if self.variant in ("sin2", "sin2+any"):
            total += sum(float(t.sum()) for t in terms)
        if self.variant in ("any", "sin2+any"):
            total += float(np.prod(terms, axis=0).sum())
        return self.strength * total

    def get_config(self):
        return {"moduli": list(self.moduli), "strength": self.strength,
                "quantizer": _serialize_quantizer(self.quantizer), "variant": self.variant, "scale": self.scale}


# --------------------------------------------------------------------------- model inspection

def quantized_kernels(model) -> list[tuple[Any, Any, np.ndarray]]:
    """``(layer, quantizer or None, kernel)`` for every layer with a kernel, in model order."""
    out = []
    for layer in _all_layers(model):
        kernel = getattr(layer, "kernel", None)
        if kernel is None:
            continue
        q = getattr(layer, "kernel_quantizer_internal", None)
        if q is None and hasattr(layer, "weight_quantizer"):
            q = layer.weight_quantizer
        out.append((layer, q, np.asarray(kernel.numpy())))
    return out


def _all_layers(model):
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers:
            yield from _all_layers(layer)
        else:
            yield layer


def layer_codes(layer, quantizer, kernel) -> np.ndarray | None:
    if hasattr(layer, "weight_codes"):
        return layer.weight_codes()
    return weight_codes(quantizer, kernel)


def residue_sparsity(model, moduli: Iterable[int]) -> dict:
    """Residue sparsity of every quantized kernel, via ``toolchain.arith.rns.residue_sparsity``.

    Returns ``{"moduli": [...], "per_modulus": {m: f}, "total": f, "n_weights": n,
    "layers": {name: {"per_modulus": {...}, "total": f, "n_weights": n}}}``; totals
    weight each layer by its number of weights.  Layers without integer codes
    (float kernels) are listed under ``"skipped"``.
    """
    moduli = _validate_moduli(moduli)
    layers: dict = {}
    skipped = []
    zeros = np.zeros(len(moduli))
    n_total = 0
    for layer, q, kernel in quantized_kernels(model):
        codes = layer_codes(layer, q, kernel)
        if codes is None:
            skipped.append(layer.name)
            continue
        rs = _rns.residue_sparsity(codes, moduli)
        n = int(codes.size)
        layers[layer.name] = {"per_modulus": {str(m): rs[m] for m in moduli}, "total": rs["total"], "n_weights": n}
        zeros += np.array([rs[m] * n for m in moduli])
        n_total += n
    per_mod = {str(m): (float(zeros[j] / n_total) if n_total else 0.0) for j, m in enumerate(moduli)}
    total = float(zeros.sum() / (n_total * len(moduli))) if n_total else 0.0
    return {"moduli": list(moduli), "per_modulus": per_mod, "total": total, "n_weights": n_total,
            "layers": layers, "skipped": skipped}


def weight_sparsity(model) -> dict:
    """Fraction of exactly-zero quantized weights per layer and overall, and storage bits per weight."""
    layers = {}
    zeros = n_total = 0
    bits = 0.0
    for layer, q, kernel in quantized_kernels(model):
        if hasattr(layer, "quantized_kernel"):
            wq = layer.quantized_kernel()
        elif q is not None:
            wq = np.asarray(q(tf.convert_to_tensor(kernel)))
        else:
            wq = kernel
        z = int(np.count_nonzero(wq == 0))
        bpw = layer.bits_per_weight if hasattr(layer, "bits_per_weight") else bits_per_weight(q)
        layers[layer.name] = {"sparsity": z / wq.size, "n_weights": int(wq.size), "bits_per_weight": bpw}
        zeros += z
        n_total += wq.size
        bits += bpw * wq.size
    return {"sparsity": zeros / n_total if n_total else 0.0, "n_weights": int(n_total),
            "bits_per_weight": bits / n_total if n_total else 0.0, "layers": layers}


# --------------------------------------------------------------------------- cloning with a regularizer

def with_regularizer(model, moduli, strength: float, variant: str = "sin2", layers=None):
    """A copy of ``model`` (same weights) with a :class:`ResidueRegularizer` on every quantized kernel.

    ``layers``: names to regularize (default: every layer whose quantizer has
    an integer code).  Passing ``strength=0`` removes the regularizers.
    """
    moduli = _validate_moduli(moduli)
    targets = set()
    for layer, q, _ in quantized_kernels(model):
        if q is None or code_scale(q) is None:
            continue
        if layers is None or layer.name in layers:
            targets.add(layer.name)

    def clone(layer):
        cfg = layer.get_config()
        if layer.name in targets:
            cfg["kernel_regularizer"] = None if strength == 0 else ResidueRegularizer(
                moduli, strength, cfg["kernel_quantizer"], variant)
        return layer.__class__.from_config(cfg)

    from toolchain.quant import CUSTOM_OBJECTS

    with tf.keras.utils.custom_object_scope(CUSTOM_OBJECTS):
        new = tf.keras.models.clone_model(model, clone_function=clone)
    new.set_weights(model.get_weights())
    return new


def _layer_configs(config):
    for lc in config.get("layers", []):
        if "layers" in lc.get("config", {}):
            yield from _layer_configs(lc["config"])
        else:
            yield lc


def _split_data(data):
    if isinstance(data, dict):
        try:
            x, y = data["x_train"], data["y_train"]
        except KeyError as exc:
            raise DataError(f"optimize_residues data dict lacks {exc.args[0]!r}") from None
        return x, y, data.get("x_test", x), data.get("y_test", y)
    if isinstance(data, (tuple, list)) and len(data) in (2, 4):
        x, y = data[0], data[1]
        return (x, y, x, y) if len(data) == 2 else tuple(data)
    if hasattr(data, "x_train"):
        return data.x_train, data.y_train, data.x_test, data.y_test
    raise DataError("optimize_residues data must be (x, y), (x_train, y_train, x_test, y_test), a dict or a Dataset")


def accuracy(model, x, y, batch_size: int = 256) -> float:
    pred = model.predict(x, batch_size=batch_size, verbose=0)
    return float(np.mean(np.argmax(pred, axis=-1) == np.asarray(y).reshape(-1)))


def optimize_residues(model, moduli, data, epochs: int = 5, strength: float = 1e-4, variant: str = "sin2",
                      learning_rate: float = 1e-3, batch_size: int = 32, verbose: int = 0, seed: int | None = 0):
    """Post-processing: fine-tune a trained model with the residue regularizer.

    ``data``: ``(x, y)``, ``(x_train, y_train, x_test, y_test)``, a dict with
    those keys or a :class:`toolchain.data.Dataset`; accuracy is measured on
    the test part (train part if absent).  Returns ``(new_model, report)``;
    the report holds ``before`` / ``after`` residue sparsity (per modulus and
    total), accuracy, and ``ratio`` = after/before total.  The returned model
    keeps the regularizers (``with_regularizer(m, moduli, 0)`` strips them).
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ConfigError(f"optimize_residues epochs={epochs!r} must be an integer >= 0")
    moduli = _validate_moduli(moduli)
    x, y, xt, yt = _split_data(data)
    before_rs = residue_sparsity(model, moduli)
    before_acc = accuracy(model, xt, yt)
    new = with_regularizer(model, moduli, strength, variant)
    if seed is not None:
        tf.keras.utils.set_random_seed(seed)
    new.compile(optimizer=tf.keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                metrics=["accuracy"])
    hist = new.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=verbose)
    after_rs = residue_sparsity(new, moduli)
    after_acc = accuracy(new, xt, yt)
    report = {
        "moduli": list(moduli), "strength": strength, "variant": variant, "epochs": epochs,
        "before": {"residue_sparsity": before_rs["per_modulus"], "total": before_rs["total"], "accuracy": before_acc},
        "after": {"residue_sparsity": after_rs["per_modulus"], "total": after_rs["total"], "accuracy": after_acc},
        "ratio": after_rs["total"] / before_rs["total"] if before_rs["total"] else float("inf"),
        "history": {k: [float(v) for v in vals] for k, vals in hist.history.items()},
    }
    return new, report
