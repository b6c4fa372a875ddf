"""ESSOP on-chip weight update (toolchain.essop_hls, templates/nnet_utils/nnet_essop.h): the generated HLS function,
C-simulated with g++, is bit-exact with toolchain.arith.essop.essop_update step by step and with the Keras ESSOP
training step (toolchain.quant.essop); bad layers and settings are one-line errors (exit 2)."""
from __future__ import annotations

import numpy as np
import pytest

from tests import zoo
from toolchain import essop_hls, project
from toolchain.arith import essop as es
from toolchain.errors import ConfigError, DataError

BL, LR_SHIFT = 32, -2
WIDTHS = (6, 7, 4)  # inputs, hidden, outputs: the updated layer 'out' is 7 x 4


@pytest.fixture(scope="module")
def model():
    return zoo.mlp(5, "bits", widths=WIDTHS, quantized_input=True)


@pytest.fixture(scope="module")
def trainer(model):
    from toolchain.quant.essop import EssopTrainer

    return EssopTrainer(model, stream_length=BL, lr_shift=LR_SHIFT)


@pytest.fixture(scope="module")
def converted(tmp_path_factory, model, trainer):
    """The project, converted and compiled (g++) by toolchain.project.convert with the last layer's ESSOP update,
    seeded as the ESSOP trainer seeds that layer."""
    lx, ld = trainer.lfsrs[-1]
    cfg = {"Model": {"EssopUpdate": {"Layer": "out", "BL": BL, "LrShift": LR_SHIFT, "SeedX": lx.seed,
                                     "SeedD": ld.seed}}}
    out = tmp_path_factory.mktemp("essop") / "prj"
    hm, _ = project.convert(model, "bitshift", out, zoo.PART, user_config=cfg)
    return hm, out


def _steps(spec: essop_hls.EssopSpec, n: int, seed: int = 0, delta_scale: float = 1.0):
    """``n`` steps of (x, delta) on the update's grids: x with zeros, signed deltas, one all-zero delta and one
    all-zero x."""
    rng = np.random.default_rng(seed)
    xt, dt = spec.x_type, spec.d_type
    xs = rng.integers(0, 1 << xt.width, (n, spec.n_in)) * 2.0 ** -xt.frac
    xs[rng.random(xs.shape) < 0.3] = 0.0
    lim = int((1 << (dt.width - 1)) * delta_scale)
    ds = rng.integers(-lim, lim, (n, spec.n_out)) * 2.0 ** -dt.frac
    ds[2] = 0.0
    xs[4] = 0.0
    return xs, ds


def _reference(spec: essop_hls.EssopSpec, xs, ds):
    """Weights after each step by toolchain.arith.essop.essop_update, LFSRs carried; and the final LFSR states."""
    lx = es.LFSR(es.DEFAULT_WIDTH, spec.seed_x)
    ld = es.LFSR(es.DEFAULT_WIDTH, spec.seed_d, es.DEFAULT_TAPS_D)
    w = spec.initial.copy()
    out = []
    for x, d in zip(xs, ds):
        w = w - es.essop_update(x, d, spec.BL, lx, ld, spec.lr_shift).kernel()
        out.append(w)
    return out, (lx.state, ld.state)


def test_project_files_and_types(converted):
    hm, out = converted
    spec = hm.essop.spec
    assert (spec.layer, spec.n_in, spec.n_out, spec.BL, spec.lr_shift) == ("out", WIDTHS[1], WIDTHS[2], BL, LR_SHIFT)
    for name in ("firmware/myproject_essop.cpp", "firmware/myproject_essop.h", "firmware/nnet_utils/nnet_essop.h"):
        assert (out / name).is_file(), name
    # the updated layer's input is the quantized_relu(6, 2) output: the update takes it as it is
    assert spec.x_type == essop_hls.FixedType(6, 2, False)
    # smallest update 2^(2 - 4 - 14 - 5 - 2) = 2^-23, largest 2^(2 + 2 - 2): the derived memory holds both
    assert spec.w_type.frac == 4 + 14 + 5 + 2 - 2 and spec.w_type.integer >= 2 + 2 - 2 + 2
    assert np.array_equal(hm.essop_weights(), spec.initial)
    assert np.array_equal(spec.initial, zoo_kernel(hm))


def zoo_kernel(hm) -> np.ndarray:
    """The quantized kernel of layer 'out' as hls4ml holds it."""
    node = next(n for n in hm.get_layers() if n.name == "out")
    return np.asarray(node.weights["weight"].data, dtype=np.float64)


def test_csim_bit_exact_with_reference_step_by_step(converted):
    hm, _ = converted
    spec = hm.essop.spec
    hm.essop_reset()
    xs, ds = _steps(spec, 8)
    want, states = _reference(spec, xs, ds)
    for k, (x, d) in enumerate(zip(xs, ds)):
        hm.essop_update(x, d)
        assert np.array_equal(hm.essop_weights(), want[k]), f"step {k}"
    assert hm.essop.lfsr_states() == states
    assert not np.array_equal(want[-1], spec.initial)  # the steps did change the weights
    # the all-zero delta (step 2) and all-zero x (step 4) leave the weights alone, and still advance the LFSRs
    assert np.array_equal(want[2], want[1]) and np.array_equal(want[4], want[3])
    # a batch of steps applied in order is the same
    hm.essop_reset()
    hm.essop_update(xs, ds)
    assert np.array_equal(hm.essop_weights(), want[-1])
    assert hm.essop.lfsr_states() == states and not hm.essop.overflow


def test_csim_bit_exact_with_keras_essop_training_step(converted, trainer):
    """The Keras ESSOP step (toolchain.quant.essop.essop_dense_step with the trainer's LFSRs of the layer): float32
    weights, equal to the HLS weight memory where float32 holds it exactly, as it does here."""
    from toolchain.quant.essop import essop_dense_step

    hm, _ = converted
    spec = hm.essop.spec
    hm.essop_reset()
    lx, ld = (r.copy() for r in trainer.lfsrs[-1])
    lx.reset()
    ld.reset()
    kernel = trainer.dense[-1].kernel.numpy()  # QDense: the float kernel; the layer computes with its quantized value
    kernel = trainer.dense[-1].kernel_quantizer_internal(kernel).numpy()
    assert np.array_equal(kernel.astype(np.float64), spec.initial)
    xs, ds = _steps(spec, 6, seed=1, delta_scale=0.25)
    for k, (x, d) in enumerate(zip(xs, ds)):
        kernel = essop_dense_step(x[None], d[None], kernel, BL, lx, ld, LR_SHIFT)
        hm.essop_update(x, d)
        assert np.array_equal(hm.essop_weights(), kernel.astype(np.float64)), f"step {k}"
    assert hm.essop.lfsr_states() == (lx.state, ld.state)


def test_synthesis_path_bit_exact(converted):
    """The branches Vitis HLS synthesises (ap types throughout) compute the same steps."""
    from toolchain.simlib import compile_model

    hm, _ = converted
    spec = hm.essop.spec
    xs, ds = _steps(spec, 5, seed=2)
    want, states = _reference(spec, xs, ds)
    try:
        compile_model(hm, "synthesis")
        hm.essop_reset()
        hm.essop_update(xs, ds)
        assert np.array_equal(hm.essop_weights(), want[-1])
        assert hm.essop.lfsr_states() == states
    finally:
        compile_model(hm, "fast")


def test_reopen_attaches_the_api(converted):
    hm, out = converted
    hm2, _ = project.reopen(out, compile=True)
    assert hm2.essop.spec.w_type == hm.essop.spec.w_type
    hm2.essop_reset()
    assert np.array_equal(hm2.essop_weights(), hm.essop.spec.initial)


def test_bad_inputs_are_data_errors(converted):
    hm, _ = converted
    spec = hm.essop.spec
    x, d = np.zeros(spec.n_in), np.zeros(spec.n_out)
    with pytest.raises(DataError, match=r"x\[0, 1\] = -0.25"):
        hm.essop_update(np.where(np.arange(spec.n_in) == 1, -0.25, 0.0), d)
    with pytest.raises(DataError, match="not exactly a value"):
        hm.essop_update(x + 0.01, d)
    with pytest.raises(DataError, match="delta"):
        hm.essop_update(x, d + 9.0)
    with pytest.raises(DataError, match="n_in = 7"):
        hm.essop_update(np.zeros(3), d)


def _spec_of(model, tmp_path, setting):
    hm = zoo.convert(model, "Bitshift", tmp_path / "p", model_config={"EssopUpdate": setting}, compile=False)
    return essop_hls.essop_spec(hm)


@pytest.mark.parametrize("setting, message", [
    ("d0", "layer 'd0' is not the last Dense layer; ESSOP updates the last Dense layer, here 'out'"),
    ("a0", "layer 'a0' is not a Dense layer (it is Activation)"),
    ("nope", "the model has no layer 'nope'"),
    ({"Layer": "out", "WeightPrecision": "fixed<16,6>"}, "WeightPrecision fixed<16,6> cannot hold every update"),
    ({"Layer": "out", "DeltaPrecision": "fixed<32,2>", "LrShift": -20}, "more than the 53"),
    ({"Layer": "out", "XPrecision": "fixed<8,3>"}, "XPrecision fixed<8,3> is signed"),
])
def test_bad_layer_or_types_name_the_key(model, tmp_path, setting, message):
    with pytest.raises(ConfigError, match="EssopUpdate") as exc:
        _spec_of(model, tmp_path, setting)
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_config_values_are_checked():
    assert essop_hls.parse_essop_config("out")["BL"] == 64
    for bad, message in (({"Layer": "out", "BL": 48}, "BL must be a power of two"),
                         ({"Layer": "out", "Bl": 64}, "unknown key EssopUpdate.Bl"),
                         ({"BL": 64}, "Layer must name"), (3, "must be a layer name or a mapping"),
                         ({"Layer": "out", "SeedX": 0}, "SeedX must be an integer in 1..65535"),
                         ({"Layer": "out", "DeltaPrecision": "float"}, "DeltaPrecision must be a fixed-point")):
        with pytest.raises(ConfigError, match=message):
            essop_hls.parse_essop_config(bad)
    with pytest.raises(ConfigError, match="Model.EssopUpdate: BL must be a power of two"):
        project.validate_user_config({"Model": {"EssopUpdate": {"Layer": "out", "BL": 3}}})


def test_cli_bad_layer_exit_2(model, tmp_path, capsys):
    from toolchain.cli import main

    path = tmp_path / "m.h5"
    model.save(path)
    for layer, message in (("d0", "is not the last Dense layer"), ("missing", "has no layer 'missing'")):
        rc = main(["convert", str(path), "--backend", "bitshift", "--part", zoo.PART, "-o", str(tmp_path / layer),
                   "--essop-update", layer])
        err = capsys.readouterr().err
        assert rc == 2 and message in err and "EssopUpdate" in err, err
        assert not (tmp_path / layer).exists()


def test_cost_counts_and_energy():
    c = essop_hls.essop_cost(64, 10, BL=64)
    counts = c.counts()
    assert counts["mult"] == (0, 640)  # ESSOP: no multiplier
    assert c.essop_ops["stream AND"][2] == c.essop_ops["counter"][2] == 64 * 640
    assert c.essop_ops["stream compare"][2] == 64 * 74
    assert c.essop_pj > 0 and c.exact_pj > 0
    # shorter streams cost less, linearly in the per-step part
    assert essop_hls.essop_cost(64, 10, BL=16).essop_pj < c.essop_pj


def test_report_shows_the_update_cost(converted, capsys):
    """'arith4ml report' prints the update's energy per step next to an exact 8-bit outer product and writes it to
    estimate.json; the figures are essop_cost's for the layer's types."""
    import json

    from toolchain.cli import main

    hm, out = converted
    spec = hm.essop.spec
    assert main(["report", str(out)]) == 0
    text = capsys.readouterr().out
    line = next(t for t in text.splitlines() if t.startswith("ESSOP on-chip update of out"))
    assert f"({spec.n_in}x{spec.n_out}, BL {spec.BL})" in line and "exact 8x8-bit outer product" in line
    doc = json.loads((out / "estimate.json").read_text())["essop_update"]
    cost = essop_hls.essop_cost(spec.n_in, spec.n_out, spec.BL, x_bits=spec.x_type.width, d_bits=spec.d_type.width,
                                weight_bits=spec.w_type.width)
    assert doc["layer"] == "out" and doc["essop_pj"] == pytest.approx(cost.essop_pj)
    assert doc["exact_outer_product_pj"] == pytest.approx(cost.exact_pj) and doc["operations"]["mult"] == 0


def test_approx_backend_update_takes_the_8bit_activations(tmp_path):
    """With the Approx backend the last layer sees its inputs as 8-bit activation codes (ap_fixed<8, I>), so the
    update's x type defaults to their non-negative half, ufixed<7, I - 1>; C-sim steps equal the reference."""
    from tests.test_backend_approx import approx_cnn, noisy_table

    model = approx_cnn(21, noisy_table(tmp_path / "t.npy"), batchnorm=False)
    hm, _ = project.convert(model, "approx", tmp_path / "prj", zoo.PART, user_config={"Model": {"EssopUpdate": "out"}})
    spec = hm.essop.spec
    assert (spec.x_type.width, spec.x_type.integer, spec.x_type.signed) == (7, 4, False)  # input_integer 5
    xs, ds = _steps(spec, 5, seed=3)
    hm.essop_update(xs, ds)
    expected, _ = _reference(spec, xs, ds)
    assert np.array_equal(hm.essop_weights(), expected[-1])
