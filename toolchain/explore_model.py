"""The model side of ``arith4ml explore``: data splits, the 8-bit approximate twin of the model, and the evaluation
of one assignment on the test split (run in-process, in local worker processes or in Ray actors, each loading
the model once).

Every point is evaluated on the **same** Keras model built once per worker by
``toolchain.quant.to_approx(model, "exact", calib_x)`` (8-bit grids chosen from the calibration split); a point
only swaps each ``ApproxDense``/``ApproxConv2D`` layer's multipliers and assignment, so the forward pass is
exactly the layers' closed-form emulation (``toolchain.arith.approx.approx_matmul`` / ``approx_conv2d``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from toolchain.errors import DataError

TEST_BATCH = 256  # samples per Keras predict batch


@dataclass(frozen=True)
class Job:
    """What a worker needs to rebuild the evaluation on its own (picklable; no arrays, no Keras objects)."""

    model: str  # absolute path of the trained Keras model
    data_name: str  # digits | synthetic | npz
    data_options: tuple  # (key, value) pairs for toolchain.data.load
    calibration: int  # calibration samples drawn from the training split
    test_samples: int | None  # first N test samples; None: all
    seed: int
    ladder: tuple[str, ...]  # multiplier specs, least to most aggressive
    targets: tuple[str, ...]  # explored layer names


def load_splits(job: Job, input_shape: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(calibration x, test x, test y) shaped for a model whose input is ``(None, *input_shape)``.

    The calibration samples are ``job.calibration`` training samples drawn without replacement with
    ``numpy.random.default_rng(job.seed)`` (all of them when the split is smaller).
    """
    from toolchain import data as D

    options = dict(job.data_options)
    if job.data_name in ("digits", "synthetic"):
        options["view"] = "image" if len(input_shape) == 3 else "flat"
    ds = D.load(job.data_name, **options)
    if tuple(ds.input_shape) != tuple(input_shape):
        try:
            ds = ds.with_view("image" if len(input_shape) == 3 else "flat")
        except DataError:
            pass
    if tuple(ds.input_shape) != tuple(input_shape):
        raise DataError(f"data {ds.name!r} has samples of shape {ds.input_shape}; the model expects {input_shape}")
    rng = np.random.default_rng(job.seed)
    pick = rng.permutation(len(ds.x_train))[:job.calibration]
    n_test = len(ds.x_test) if job.test_samples is None else min(job.test_samples, len(ds.x_test))
    if n_test == 0 or len(pick) == 0:
        raise DataError(f"data {ds.name!r} has an empty training or test split")
    return ds.x_train[np.sort(pick)], ds.x_test[:n_test], ds.y_test[:n_test]


class Evaluator:
    """The model of a :class:`Job` and its splits, loaded once; evaluates ladder-index assignments."""

    def __init__(self, job: Job):
        from toolchain.arith import approx as ax
        from toolchain.project import load_keras_model
        from toolchain.quant import approx_layers as al

        self.job = job
        self.model = load_keras_model(job.model)
        self.input_shape = tuple(self.model.input_shape[1:])
        self.calib_x, self.x_test, self.y_test = load_splits(job, self.input_shape)
        self.amodel = al.to_approx(self.model, "exact", calib_x=self.calib_x)
        self.layers = {lyr.name: lyr for lyr in self.amodel.layers if isinstance(lyr, (al.ApproxDense,
                                                                                      al.ApproxConv2D))}
        self.ladder = tuple(ax.multiplier_from_spec(s) for s in job.ladder)
        self.exact = ax.multiplier_from_spec("exact")

    def layer_dims(self, name: str) -> tuple[int, int]:
        """(n_out, n_in channels) of an approximate layer."""
        kernel = self.layers[name].kernel
        return int(kernel.shape[-1]), int(kernel.shape[-2] if len(kernel.shape) == 4 else kernel.shape[0])

    def apply(self, index: dict[str, np.ndarray]) -> None:
        """Give every layer named in ``index`` the ladder with that ladder-index array (shape ``()``, ``(n_out,)``
        or ``(n_out, n_in)``); every other layer the exact multiplier."""
        for name, layer in self.layers.items():
            if name in index:
                layer._mults, layer.multiplier_specs = self.ladder, list(self.job.ladder)
                layer.assignment = np.asarray(index[name], dtype=np.int64).tolist()
            else:
                layer._mults, layer.multiplier_specs, layer.assignment = (self.exact,), ["exact"], None
            # the layers' numpy_function reads _asg at call time, so no retracing is needed
            layer._asg = layer.approx_assignment(*self.layer_dims(name))

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.amodel.predict(x, batch_size=TEST_BATCH, verbose=0))

    def accuracy(self, index: dict[str, np.ndarray]) -> tuple[int, int]:
        """(correct, samples) on the test split with ``index`` applied (see :meth:`apply`)."""
        self.apply(index)
        pred = np.argmax(self.predict(self.x_test), axis=-1)
        return int(np.sum(pred == self.y_test)), int(len(self.y_test))
