"""C-simulation of the Bitshift and RNS backends equals toolchain.reference bit for bit (real g++ builds)."""
from __future__ import annotations

import os

import numpy as np
import pytest

from tests import zoo

pytestmark = pytest.mark.slow

CASES = [
    # (backend, model kind, quantizer, seed, io_type)
    ("Bitshift", "mlp", "po2", 1, "io_parallel"),
    ("Bitshift", "mlp", "po2", 2, "io_stream"),
    ("Bitshift", "mlp", "ternary", 3, "io_parallel"),
    ("Bitshift", "mlp", "bits", 4, "io_parallel"),
    ("Bitshift", "cnn", "po2", 5, "io_parallel"),
    ("RNS", "mlp", "po2", 6, "io_parallel"),
    ("RNS", "mlp", "ternary", 7, "io_stream"),
    ("RNS", "mlp", "bits", 8, "io_parallel"),
    ("RNS", "cnn", "po2", 9, "io_parallel"),
]


@pytest.fixture(scope="module", params=CASES, ids=["-".join(map(str, c)) for c in CASES])
def compiled(request, tmp_path_factory):
    backend, kind, quantizer, seed, io_type = request.param
    model = zoo.mlp(seed, quantizer) if kind == "mlp" else zoo.cnn(seed, quantizer)
    hm = zoo.convert(model, backend, tmp_path_factory.mktemp(f"{backend}{kind}") / "prj", io_type)
    return model, hm, seed


def test_csim_equals_reference_bit_for_bit(compiled):
    from toolchain import reference

    model, hm, seed = compiled
    x = zoo.raw_inputs(seed + 100, model.input_shape[1:])
    y_csim = hm.predict(x)
    y_ref = reference.predict(hm, x)
    mismatch = np.argwhere(y_csim != y_ref)
    assert mismatch.size == 0, (f"{len(mismatch)} outputs differ, first at {mismatch[0]}: "
                                f"{y_csim[tuple(mismatch[0])]} vs {y_ref[tuple(mismatch[0])]}")


def test_csim_agrees_with_keras(compiled):
    model, hm, seed = compiled
    x = zoo.raw_inputs(seed + 200, model.input_shape[1:])
    x = np.clip(x, -30, 30)  # inside the input type's range, Keras and C-sim differ only by input rounding
    y_keras = model.predict(x, verbose=0).reshape(len(x), -1)
    y_csim = hm.predict(x)
    assert np.mean(np.argmax(y_keras, 1) == np.argmax(y_csim, 1)) >= 0.95
    assert np.max(np.abs(y_keras - y_csim)) < 0.5


def _weight_file(hm, var) -> np.ndarray:
    path = os.path.join(hm.config.get_output_dir(), "firmware", "weights", f"{var.name}.txt")
    return np.array([int(v) for v in open(path).read().split(",")])


def test_kernel_kinds_and_terms(compiled):
    """The report's term counts are the non-zero entries of the arrays the C++ actually loads."""
    _, hm, _ = compiled
    backend = hm.config.backend.name
    src = open(os.path.join(hm.config.get_output_dir(), "firmware", "myproject.cpp")).read()
    for layer in hm.get_layers():
        plan = layer.get_attr("arith_plan")
        if plan is None:
            continue
        if backend == "RNS":
            assert plan.kind == "rns" and "nnet::arith::rns" in src
            assert plan.generated_terms == np.count_nonzero(_weight_file(hm, layer.get_weights("arith_residue")))
        elif plan.kind == "shift":
            assert plan.multiplications == 0 and "shift_kernel" in src
            assert plan.generated_terms == np.count_nonzero(_weight_file(hm, layer.get_weights("arith_sign")))
        elif plan.kind == "mult":
            assert plan.generated_terms == np.count_nonzero(_weight_file(hm, layer.get_weights("arith_weight")))


def test_batch_predict_rejects_bad_input(compiled):
    from toolchain.errors import DataError

    model, hm, _ = compiled
    shape = model.input_shape[1:]
    bad = np.zeros((3, *shape), dtype=np.float32)
    bad.flat[4] = np.nan
    with pytest.raises(DataError, match="nan"):
        hm.predict(bad)
    with pytest.raises(DataError, match="whole samples"):
        hm.predict(np.zeros(int(np.prod(shape)) + 1, dtype=np.float32))


@pytest.mark.parametrize("backend", ["Bitshift", "RNS"])
def test_resource_strategy_with_reuse(tmp_path, backend, capsys):
    """Strategy Resource and ReuseFactor 19 (hls4ml transposes weights for its own Resource kernels): our kernels
    fold their own plan arrays (d0, 7 x 19: over the outputs; out, 19 x 3: over the inputs), so C-sim stays exact
    and agrees with Keras."""
    from toolchain import reference

    model = zoo.mlp(11, "po2")
    resource = {"Strategy": "Resource", "ReuseFactor": 19}
    hm = zoo.convert(model, backend, tmp_path / "prj", model_config=resource, layer_config={"*": resource})
    x = np.clip(zoo.raw_inputs(311, model.input_shape[1:]), -30, 30)
    y = hm.predict(x)
    assert np.array_equal(y, reference.predict(hm, x))
    y_keras = model.predict(x, verbose=0).reshape(len(x), -1)
    assert np.mean(np.argmax(y, 1) == np.argmax(y_keras, 1)) >= 0.95
    params = (tmp_path / "prj" / "firmware" / "parameters.h").read_text()
    assert params.count("n_fold = 19,") == 2
    assert "n_fold = 19, fold_in_steps = 1, fold_out_steps = 19;" in params
    assert "n_fold = 19, fold_in_steps = 19, fold_out_steps = 1;" in params
    assert "Invalid ReuseFactor" not in capsys.readouterr().out  # hls4ml's closest-value rule is not applied
