"""ESSOP training of Dense layers: stochastic outer-product weight updates, exact error backprop.

For every Dense layer the weight update of one sample is
``toolchain.arith.essop.essop_update(x, delta, BL, lfsr_x, lfsr_d, lr_shift)``
(scale by powers of two, Bernoulli streams from two LFSRs with random-number
reuse, AND + popcount, shifts) -- the reference itself is called, so the
Keras training is bit-exact with it by construction.  ``delta`` is the exact
back-propagated error ``dL/dz`` of the layer's pre-activation ``z`` (the loss
is the batch-mean cross-entropy, so ``delta`` carries the ``1/B``); ``x`` is
the layer input (post-ReLU or the raw non-negative pixels).

One step on a batch, per Dense layer (kernel ``W`` float32, ``lr = 2**lr_shift``)::

    dW  = sum over the batch, in order, of essop_update(x_b, delta_b, ...).kernel()   (float64, exact)
    W  <- float32(float64(W) - dW)
    b  <- float32(float64(b) - lr * sum_b delta_b)                                    (bias: exact)

Every other trainable variable gets plain SGD with ``lr``.  ``mode="exact"``
replaces ``dW`` by ``lr * x^T delta`` (the same schedule with exact outer
products).  The two LFSRs of each layer are created once from the seeds and
advance across samples, batches and epochs (layer ``i`` uses seeds
``seed_x + i``, ``seed_d + i``, kept in ``1..2**16-1``).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from toolchain.arith import essop as _es
from toolchain.errors import ConfigError, DataError


def _dense_layers(model):
    return [lyr for lyr in model.layers if type(lyr).__name__ in ("Dense", "QDense")]


def _seed(base: int, i: int) -> int:
    period = (1 << _es.DEFAULT_WIDTH) - 1
    return (int(base) - 1 + i) % period + 1


class EssopTrainer:
    """Custom training loop applying ESSOP (or exact) outer-product updates to the Dense layers of a chain model.

    ``model`` must be a Sequential (or functional chain) whose Dense layers
    are the only trainable layers with kernels; activations may be fused into
    the Dense layers (``relu``, ``softmax``) or separate layers.
    """

    def __init__(self, model, stream_length: int = 64, lr_shift: int = -4, seed_x: int = _es.DEFAULT_SEED_X,
                 seed_d: int = _es.DEFAULT_SEED_D, mode: str = "essop"):
        if mode not in ("essop", "exact"):
            raise ConfigError(f"ESSOP mode {mode!r} must be 'essop' or 'exact'")
        if isinstance(stream_length, bool) or not isinstance(stream_length, int) or stream_length < 1 \
                or stream_length & (stream_length - 1):
            raise ConfigError(f"ESSOP stream_length={stream_length!r} must be a power of two")
        if isinstance(lr_shift, bool) or not isinstance(lr_shift, int):
            raise ConfigError(f"ESSOP lr_shift={lr_shift!r} must be an integer (learning rate 2**lr_shift)")
        for name, v in (("seed_x", seed_x), ("seed_d", seed_d)):
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v < (1 << _es.DEFAULT_WIDTH):
                raise ConfigError(f"ESSOP {name}={v!r} must be an integer in 1..{(1 << _es.DEFAULT_WIDTH) - 1}")
        self.model = model
        self.BL = stream_length
        self.lr_shift = lr_shift
        self.lr = 2.0 ** lr_shift
        self.mode = mode
        self.dense = _dense_layers(model)
        if not self.dense:
            raise ConfigError("ESSOP training needs a model with Dense layers")
        self.lfsrs = [(_es.LFSR(_es.DEFAULT_WIDTH, _seed(seed_x, i)),
                       _es.LFSR(_es.DEFAULT_WIDTH, _seed(seed_d, i), _es.DEFAULT_TAPS_D))
                      for i in range(len(self.dense))]
        self.loss_fn = tf.keras.losses.SparseCategoricalCrossentropy()
        dense_vars = {id(v) for lyr in self.dense for v in lyr.trainable_variables}
        self.other_vars = [v for v in model.trainable_variables if id(v) not in dense_vars]

    def _forward(self, x, training=True):
        """Run the chain, returning (output, inputs of each Dense, pre-activations of each Dense)."""
        xs, zs = [], []
        h = x
        for layer in self.model.layers:
            if isinstance(layer, tf.keras.layers.InputLayer):
                continue
            if layer in self.dense:
                xs.append(h)
                kernel = layer.kernel
                q = getattr(layer, "kernel_quantizer_internal", None)
                if q is not None:
                    kernel = q(kernel)
                z = tf.matmul(h, kernel)
                if layer.use_bias:
                    z = z + layer.bias
                zs.append(z)
                h = layer.activation(z) if layer.activation is not None else z
            else:
                h = layer(h, training=training)
        return h, xs, zs

    def step(self, x, y):
        """One update on a batch; returns the batch loss."""
        x = tf.convert_to_tensor(x, tf.float32)
        y = tf.convert_to_tensor(y)
        with tf.GradientTape(persistent=True) as tape:
            out, xs, zs = self._forward(x)
            loss = self.loss_fn(y, out)
        deltas = tape.gradient(loss, zs)
        other_grads = tape.gradient(loss, self.other_vars) if self.other_vars else []
        del tape
        for i, layer in enumerate(self.dense):
            xi = xs[i].numpy().astype(np.float64)
            di = deltas[i].numpy().astype(np.float64)
            if self.mode == "essop":
                lx, ld = self.lfsrs[i]
                dw = np.zeros(layer.kernel.shape, dtype=np.float64)
                for b in range(xi.shape[0]):
                    dw += _es.essop_update(xi[b], di[b], self.BL, lx, ld, self.lr_shift).kernel()
            else:
                dw = self.lr * (xi.T @ di)
            layer.kernel.assign((layer.kernel.numpy().astype(np.float64) - dw).astype(np.float32))
            if layer.use_bias:
                layer.bias.assign((layer.bias.numpy().astype(np.float64) - self.lr * di.sum(axis=0)).astype(np.float32))
        for v, g in zip(self.other_vars, other_grads):
            if g is not None:
                v.assign_sub(self.lr * g)
        return float(loss.numpy())

    def fit(self, x, y, epochs: int = 1, batch_size: int = 32, validation_data=None, shuffle_seed: int = 0,
            verbose: int = 1) -> dict:
        """Train; returns a Keras-like history dict (loss, accuracy, val_loss, val_accuracy)."""
        from tqdm import tqdm

        x = np.asarray(x, dtype=np.float32)
        y = np.asarray(y)
        if x.size and float(np.min(x)) < 0 and self.model.layers and self._first_is_dense():
            raise DataError(f"ESSOP streams encode non-negative layer inputs; the training data reaches "
                            f"{float(np.min(x)):g} (shift or rescale it to >= 0)")
        rng = np.random.default_rng(shuffle_seed)
        hist: dict = {"loss": [], "accuracy": []}
        if validation_data is not None:
            hist["val_loss"], hist["val_accuracy"] = [], []
        for epoch in range(epochs):
            order = rng.permutation(len(x))
            batches = range(0, len(x), batch_size)
            it = tqdm(batches, desc=f"ESSOP epoch {epoch + 1}/{epochs}", leave=False) if verbose else batches
            losses = []
            for s in it:
                idx = order[s:s + batch_size]
                losses.append(self.step(x[idx], y[idx]))
            hist["loss"].append(float(np.mean(losses)))
            hist["accuracy"].append(self.evaluate(x, y)[1])
            if validation_data is not None:
                vl, va = self.evaluate(*validation_data)
                hist["val_loss"].append(vl)
                hist["val_accuracy"].append(va)
            if verbose:
                msg = f"epoch {epoch + 1}/{epochs}: loss {hist['loss'][-1]:.4f} acc {hist['accuracy'][-1]:.4f}"
                if validation_data is not None:
                    msg += f" val_acc {hist['val_accuracy'][-1]:.4f}"
                print(msg)
        return hist

    def _first_is_dense(self) -> bool:
        """True if the input reaches the first Dense layer unchanged (only InputLayer / Flatten before it)."""
        for layer in self.model.layers:
            if layer in self.dense:
                return True
            if not isinstance(layer, (tf.keras.layers.InputLayer, tf.keras.layers.Flatten)):
                return False
        return False

    def evaluate(self, x, y) -> tuple[float, float]:
        out = self.model(np.asarray(x, dtype=np.float32), training=False)
        loss = float(self.loss_fn(y, out).numpy())
        return loss, float(np.mean(np.argmax(out.numpy(), axis=-1) == np.asarray(y).reshape(-1)))


def essop_dense_step(x, delta, kernel, BL: int = 64, lfsr_x=None, lfsr_d=None, lr_shift: int = 0) -> np.ndarray:
    """Reference for one batch: ``float32(float64(kernel) - sum_b essop_update(x_b, delta_b).kernel())``."""
    x = np.asarray(x, dtype=np.float64)
    delta = np.asarray(delta, dtype=np.float64)
    dw = np.zeros(np.shape(kernel), dtype=np.float64)
    for b in range(x.shape[0]):
        dw += _es.essop_update(x[b], delta[b], BL, lfsr_x, lfsr_d, lr_shift).kernel()
    return (np.asarray(kernel, dtype=np.float64) - dw).astype(np.float32)
