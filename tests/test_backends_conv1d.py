"""Conv1D (QConv1D, 'same' and 'valid', strides, MaxPooling1D) through both backends and both io types:
C-sim equals toolchain.reference bit for bit and agrees with Keras."""
from __future__ import annotations

import numpy as np
import pytest

from tests import zoo

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("conv1d")]


@pytest.fixture(scope="module")
def model():
    return zoo.conv1d(3)


@pytest.mark.parametrize("backend", ["Bitshift", "RNS"])
@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])
def test_conv1d_bit_exact(model, tmp_path, backend, io_type):
    from toolchain import reference

    hm = zoo.convert(model, backend, tmp_path / "prj", io_type)
    kinds = {layer.name: layer.get_attr("arith_plan").kind for layer in hm.get_layers() if layer.get_attr("arith_plan")}
    assert kinds == dict.fromkeys(("c1", "c2", "fc"), "shift" if backend == "Bitshift" else "rns")
    x = zoo.raw_inputs(4, (16, 2), 300, scale=2, jitter=0, outliers=False)
    y = hm.predict(x)
    assert np.array_equal(y, reference.predict(hm, x))
    y_keras = model.predict(x, verbose=0).reshape(len(x), -1)
    assert np.mean(np.argmax(y, 1) == np.argmax(y_keras, 1)) >= 0.95
