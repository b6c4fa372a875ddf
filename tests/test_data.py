"""Data loaders: bundled digits, synthetic, user .npz (nothing downloads)."""
from __future__ import annotations

import numpy as np
import pytest

from toolchain import data
from toolchain.errors import DataError


def test_digits_views_and_split():
    flat = data.load_digits()
    img = data.load_digits(view="image")
    assert flat.x_train.shape == (1347, 64) and flat.x_test.shape == (450, 64)
    assert img.x_train.shape == (1347, 8, 8, 1)
    assert np.array_equal(img.x_train.reshape(1347, 64), flat.x_train)
    assert flat.n_classes == 10 and set(np.unique(flat.y_train)) == set(range(10))
    assert flat.x_train.dtype == np.float32 and flat.x_train.min() >= 0 and flat.x_train.max() <= 1
    assert np.array_equal(data.load_digits().y_test, flat.y_test)  # fixed seed
    with pytest.raises(DataError, match="view"):
        data.load_digits(view="cube")


def test_synthetic():
    ds = data.load_synthetic(n_train=30, n_test=10, n_features=16, n_classes=3, view="image")
    assert ds.x_train.shape == (30, 4, 4, 1) and ds.n_classes == 3
    with pytest.raises(DataError, match="n_train"):
        data.load_synthetic(n_train=0)


def test_npz(tmp_path):
    p = tmp_path / "d.npz"
    np.savez(p, x_train=np.random.rand(8, 5), y_train=np.arange(8) % 2, x_test=np.random.rand(4, 5),
             y_test=np.arange(4) % 2)
    ds = data.load_npz(p)
    assert ds.x_train.shape == (8, 5) and ds.n_classes == 2
    bad = tmp_path / "bad.npz"
    np.savez(bad, x_train=np.zeros((2, 3)), y_train=np.zeros(2, int))
    with pytest.raises(DataError, match="lacks array.*x_test, y_test"):
        data.load_npz(bad)
    with pytest.raises(DataError, match="does not exist"):
        data.load_npz(tmp_path / "nope.npz")
    mism = tmp_path / "m.npz"
    np.savez(mism, x_train=np.zeros((2, 3)), y_train=np.zeros(3, int), x_test=np.zeros((1, 3)), y_test=np.zeros(1, int))
    with pytest.raises(DataError, match="samples"):
        data.load_npz(mism)
