"""PoT pruning adapted to log quantisation: gradual, exact zeros through the freed zero code.

:class:`PotPruning` is a Keras callback.  For every layer whose kernel
quantizer is :class:`~toolchain.quant.quantized_pot`, at the end of each epoch
from ``begin_epoch`` it computes the scheduled sparsity
``s(t) = target * (1 - (1 - p)**power)`` with ``p = (epoch + 1 - begin) / (end - begin)``
clipped to ``[0, 1]`` (the polynomial schedule of Zhu & Gupta), finds the
``ceil(s * n)`` smallest ``|w|`` of the layer, and raises the quantizer's
``zero_margin`` so that exactly those (and any ties) quantize to 0:
``zero_margin = nextafter(|w|_(k), inf) * 2**-e_min`` (never below the
quantizer's own initial margin).  The quantized weights are therefore still
exactly ``toolchain.arith.pot.quantize(w, bits, max_exp, zero_margin)``; the
smallest-exponent weights become exact zeros (a zero weight generates no
shift-add term in hardware).  Pruned weights keep receiving straight-through
gradients and may regrow; the threshold is recomputed after every epoch,
including the last, so the final model reaches the target exactly.
"""
from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from toolchain.errors import ConfigError
from toolchain.quant.quantizers import quantized_pot
from toolchain.quant.regularizer import quantized_kernels


def _pot_layers(model):
    return [(layer, q) for layer, q, _ in quantized_kernels(model) if isinstance(q, quantized_pot)]


class PotPruning(tf.keras.callbacks.Callback):
    """Gradual magnitude pruning of PoT layers to ``target_sparsity`` between ``begin_epoch`` and ``end_epoch``.

    ``end_epoch`` defaults to the number of training epochs (from ``fit``),
    ``power`` is the schedule exponent (3; 1 is linear).  ``layers`` limits
    pruning to the named layers.  ``history`` records per epoch the scheduled
    and reached sparsity.
    """

    def __init__(self, target_sparsity: float = 0.5, begin_epoch: int = 0, end_epoch: int | None = None,
                 power: float = 3.0, layers=None):
        super().__init__()
        if isinstance(target_sparsity, bool) or not isinstance(target_sparsity, (int, float)) \
                or not 0 <= target_sparsity < 1:
            raise ConfigError(f"pruning target_sparsity={target_sparsity!r} must be a number in [0, 1)")
        for name, v in (("begin_epoch", begin_epoch), ("end_epoch", end_epoch)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
                raise ConfigError(f"pruning {name}={v!r} must be an integer >= 0")
        if end_epoch is not None and end_epoch <= begin_epoch:
            raise ConfigError(f"pruning end_epoch={end_epoch} must be greater than begin_epoch={begin_epoch}")
        self.target = float(target_sparsity)
        self.begin = int(begin_epoch)
        self.end = end_epoch
        self.power = float(power)
        self.layer_names = None if layers is None else set(layers)
        self.history: list[dict] = []
        self._base: dict = {}

    def scheduled(self, epoch: int) -> float:
        end = self.end if self.end is not None else self.params.get("epochs", self.begin + 1)
        end = max(end, self.begin + 1)
        p = min(max((epoch + 1 - self.begin) / (end - self.begin), 0.0), 1.0)
        return self.target * (1.0 - (1.0 - p) ** self.power)

    def _targets(self):
        names = self.layer_names
        return [(lyr, q) for lyr, q in _pot_layers(self.model) if names is None or lyr.name in names]

    def on_train_begin(self, logs=None):
        for layer, q in self._targets():
            self._base.setdefault(layer.name, q.zero_margin)

    def on_epoch_end(self, epoch, logs=None):
        if epoch < self.begin:
            return
        s = self.scheduled(epoch)
        reached = prune_to(self.model, s, base_margins=self._base, layers=[lyr for lyr, _ in self._targets()])
        self.history.append({"epoch": epoch, "scheduled": s, "reached": reached})
        if logs is not None:
            logs["pot_sparsity"] = reached


def prune_to(model, sparsity: float, base_margins: dict | None = None, layers=None) -> float:
    """Set every PoT layer's zero margin so that at least ``ceil(sparsity * n)`` weights are 0; returns the overall
    sparsity."""
    base_margins = base_margins or {}
    zeros = n_total = 0
    for layer, q in _pot_layers(model):
        if layers is not None and layer not in layers:
            continue
        mag = np.sort(np.abs(layer.kernel.numpy().astype(np.float64)).ravel())
        k = int(math.ceil(sparsity * mag.size - 1e-9))
        base = base_margins.get(layer.name, q.zero_margin)
        margin = base
        if k > 0:
            thr = np.nextafter(mag[k - 1], np.inf)
            margin = max(base, float(np.ldexp(thr, -q.e_min)))
        q.set_zero_margin(margin)
        wq = q.reference(layer.kernel.numpy())
        zeros += int(np.count_nonzero(wq == 0))
        n_total += wq.size
    return zeros / n_total if n_total else 0.0


def pot_sparsity(model) -> dict:
    """Per PoT layer: fraction of exact zeros, number of shift-add terms (non-zero weights)."""
    out = {}
    for layer, q in _pot_layers(model):
        wq = q.reference(layer.kernel.numpy())
        out[layer.name] = {"sparsity": float(np.mean(wq == 0)), "terms": int(np.count_nonzero(wq)),
                           "zero_margin": q.zero_margin}
    return out
