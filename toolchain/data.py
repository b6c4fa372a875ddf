"""Data sets for training: bundled sklearn ``load_digits`` (default), synthetic blobs, user ``.npz``.

Nothing is downloaded: ``load_digits`` ships inside scikit-learn.

``load_digits`` images are 8x8 with integer pixels 0..16; they are scaled to
``[0, 1]`` (divided by 16, exact in float32) and split 75/25, stratified,
with a fixed ``seed``.  ``view="flat"`` gives ``(n, 64)``, ``view="image"``
``(n, 8, 8, 1)``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from toolchain.errors import DataError

REQUIRED_NPZ = ("x_train", "y_train", "x_test", "y_test")
VIEWS = ("flat", "image")


@dataclass
class Dataset:
    """Train/test arrays (``x`` float32, ``y`` int64 class labels) and a name."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    name: str = "data"
    n_classes: int = 0

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def subset(self, n_train: int | None = None, n_test: int | None = None) -> "Dataset":
        """The first ``n_train`` / ``n_test`` samples (for tiny tests)."""
        return Dataset(self.x_train[:n_train], self.y_train[:n_train], self.x_test[:n_test], self.y_test[:n_test],
                       self.name, self.n_classes)

    def with_view(self, view: str) -> "Dataset":
        return Dataset(_view(self.x_train, view, self.name), self.y_train, _view(self.x_test, view, self.name),
                       self.y_test, self.name, self.n_classes)


def _view(x: np.ndarray, view: str, name: str) -> np.ndarray:
    if view not in VIEWS:
        raise DataError(f"data view {view!r} unknown for {name}; use one of {', '.join(VIEWS)}")
    n = x.shape[0]
    if view == "flat":
        return x.reshape(n, -1)
    if x.ndim == 4:
        return x
    side = int(round(np.sqrt(x[0].size)))
    if x.ndim == 2 and side * side == x.shape[1]:
        return x.reshape(n, side, side, 1)
    if x.ndim == 3:
        return x[..., None]
    raise DataError(f"cannot show {name} samples of shape {x.shape[1:]} as images (need a square number of features)")


def _split(x, y, test_fraction: float, seed: int):
    from sklearn.model_selection import train_test_split

    return train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)


def load_digits(view: str = "flat", seed: int = 0, test_fraction: float = 0.25) -> Dataset:
    """sklearn's 1797 8x8 digits, 10 classes, pixels scaled to [0, 1]."""
    from sklearn.datasets import load_digits as _ld

    d = _ld()
    x = (d.data.astype(np.float32) / np.float32(16.0))
    y = d.target.astype(np.int64)
    xtr, xte, ytr, yte = _split(x, y, test_fraction, seed)
    return Dataset(xtr, ytr, xte, yte, "digits", 10).with_view(view)


def load_synthetic(n_train: int = 256, n_test: int = 128, n_features: int = 64, n_classes: int = 10,
                   seed: int = 0, view: str = "flat", noise: float = 0.15) -> Dataset:
    """Gaussian class blobs in ``[0, 1]``: class ``c`` is a random prototype plus noise, clipped."""
    for name, v in (("n_train", n_train), ("n_test", n_test), ("n_features", n_features), ("n_classes", n_classes)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise DataError(f"synthetic data {name}={v!r} must be a positive integer")
    rng = np.random.default_rng(seed)
    protos = rng.random((n_classes, n_features))
    n = n_train + n_test
    y = np.arange(n) % n_classes
    rng.shuffle(y)
    x = np.clip(protos[y] + noise * rng.standard_normal((n, n_features)), 0.0, 1.0).astype(np.float32)
    ds = Dataset(x[:n_train], y[:n_train].astype(np.int64), x[n_train:], y[n_train:].astype(np.int64),
                 "synthetic", n_classes)
    return ds.with_view(view)


def load_npz(path: str | os.PathLike, view: str | None = None) -> Dataset:
    """A user ``.npz`` with ``x_train, y_train, x_test, y_test`` (no pickles)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"data file {path!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in REQUIRED_NPZ if k not in z.files]
            if missing:
                raise DataError(f"data file {path!r} lacks array(s) {', '.join(missing)} "
                                f"(needs {', '.join(REQUIRED_NPZ)}; has {', '.join(z.files) or 'none'})")
            arrs = {k: z[k] for k in REQUIRED_NPZ}
    except DataError:
        raise
    except Exception as exc:  # zipfile.BadZipFile, ValueError (pickled arrays), OSError
        raise DataError(f"data file {path!r} is not a readable .npz: {exc}") from None
    for k in ("x_train", "x_test"):
        a = arrs[k]
        if a.dtype.kind not in "fiub":
            raise DataError(f"data file {path!r}: {k} has dtype {a.dtype}; expected numbers")
        if a.ndim < 2:
            raise DataError(f"data file {path!r}: {k} has shape {a.shape}; expected (n_samples, features...)")
        if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
            raise DataError(f"data file {path!r}: {k} contains NaN or inf")
    for k in ("y_train", "y_test"):
        a = arrs[k].reshape(-1) if arrs[k].ndim == 2 and arrs[k].shape[1] == 1 else arrs[k]
        if a.ndim != 1 or a.dtype.kind not in "iub":
            raise DataError(f"data file {path!r}: {k} must be a 1-D array of integer class labels; "
                            f"got dtype {a.dtype}, shape {a.shape}")
        if a.size and a.min() < 0:
            raise DataError(f"data file {path!r}: {k} contains negative label {int(a.min())}")
        arrs[k] = a.astype(np.int64)
    for a, b in (("x_train", "y_train"), ("x_test", "y_test")):
        if len(arrs[a]) != len(arrs[b]):
            raise DataError(f"data file {path!r}: {a} has {len(arrs[a])} samples but {b} has {len(arrs[b])}")
    if arrs["x_train"].shape[1:] != arrs["x_test"].shape[1:]:
        raise DataError(f"data file {path!r}: x_train samples {arrs['x_train'].shape[1:]} and x_test samples "
                        f"{arrs['x_test'].shape[1:]} differ in shape")
    n_classes = int(max(arrs["y_train"].max(initial=0), arrs["y_test"].max(initial=0)) + 1)
    ds = Dataset(arrs["x_train"].astype(np.float32), arrs["y_train"], arrs["x_test"].astype(np.float32),
                 arrs["y_test"], os.path.basename(path), n_classes)
    return ds.with_view(view) if view else ds


def load(name: str = "digits", **kwargs) -> Dataset:
    """Dispatch: ``"digits"`` | ``"synthetic"`` | ``"npz"`` (``path=``)."""
    if name == "digits":
        return load_digits(**kwargs)
    if name == "synthetic":
        return load_synthetic(**kwargs)
    if name == "npz":
        if "path" not in kwargs:
            raise DataError("data 'npz' needs a path")
        return load_npz(**kwargs)
    raise DataError(f"data set {name!r} unknown; use digits, synthetic or npz")
