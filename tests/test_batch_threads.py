"""Batch C-simulation on several native threads: the same bits for any thread count (real g++ builds)."""
from __future__ import annotations

import numpy as np
import pytest

from tests import zoo

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=[("mlp", "io_parallel"), ("cnn", "io_parallel"), ("cnn", "io_stream")],
                ids=lambda p: "-".join(p))
def compiled(request, tmp_path_factory):
    kind, io_type = request.param
    model = zoo.mlp(41, "po2") if kind == "mlp" else zoo.cnn(42)
    hm = zoo.convert(model, "Bitshift", tmp_path_factory.mktemp(kind) / "prj", io_type=io_type)
    return model, hm


def test_results_do_not_depend_on_the_thread_count(compiled, monkeypatch):
    from toolchain import reference

    model, hm = compiled
    x = zoo.raw_inputs(43, model.input_shape[1:], n=301)  # an odd count: uneven slices
    expected = reference.predict(hm, x)
    for threads in (1, 2, 3, 8):
        assert np.array_equal(hm.predict(x, threads=threads), expected), threads
    monkeypatch.setenv("ARITH4ML_THREADS", "2")
    assert np.array_equal(hm.predict(x), expected)
    assert np.array_equal(hm.predict(x[:1], threads=4), expected[:1])


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_bad_thread_settings_are_refused(compiled, monkeypatch, value):
    from toolchain.errors import DataError

    model, hm = compiled
    monkeypatch.setenv("ARITH4ML_THREADS", value)
    with pytest.raises(DataError, match="ARITH4ML_THREADS"):
        hm.predict(zoo.raw_inputs(1, model.input_shape[1:], n=3))
