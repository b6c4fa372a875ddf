"""Residue regularizer, residue sparsity, post-processing fine-tune, PoT pruning, ESSOP (tiny data)."""
from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
warnings.filterwarnings("ignore")
tf = pytest.importorskip("tensorflow")
tq = pytest.importorskip("toolchain.quant")
from qkeras.quantizers import quantized_bits  # noqa: E402

from toolchain import data, models  # noqa: E402
from toolchain.arith import essop, pot, rns  # noqa: E402
from toolchain.errors import ConfigError  # noqa: E402


@pytest.fixture(scope="module")
def tiny():
    return data.load_digits().subset(200, 100)


@pytest.fixture(scope="module")
def bits6_model(tiny):
    tf.keras.utils.set_random_seed(0)
    m = models.build_mlp(tiny.input_shape, 10, (16,), quantizer={"name": "bits", "bits": 6})
    m.compile(tf.keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    m.fit(tiny.x_train, tiny.y_train, epochs=3, batch_size=32, verbose=0)
    return m


@pytest.mark.parametrize("variant", ["sin2", "any", "sin2+any"])
@pytest.mark.parametrize("qz", ["bits6", "pot4"])
def test_regularizer_value_equals_numpy(variant, qz):
    q = quantized_bits(6, 0, alpha=1) if qz == "bits6" else tq.quantized_pot(4, 0)
    reg = tq.ResidueRegularizer((7, 8, 9), 1e-3, q, variant)
    w = (np.random.default_rng(1).standard_normal((20, 6)) * 0.4).astype(np.float32)
    # integer codes worked out here, not by the code under test: 6-bit quantized_bits(6, 0) has step
    # 2**-5 and codes -32..31; 4-bit PoT (max_exp 0) has levels 2**-6..2**0, so code = value * 2**6
    scale = 32.0 if qz == "bits6" else 64.0
    if qz == "bits6":
        codes = np.clip(np.rint(w.astype(np.float64) * 32), -32, 31)
    else:
        codes = pot.decode(pot.quantize(w.astype(np.float64), 4, 0)) * 64
    assert np.array_equal(tq.weight_codes(q, w), codes)
    assert reg.scale == scale
    sin = [np.sin(np.pi * codes / m) ** 2 for m in (7, 8, 9)]
    expect = {"sin2": sum(s.sum() for s in sin), "any": np.prod(sin, axis=0).sum()}
    expect["sin2+any"] = expect["sin2"] + expect["any"]
    got = float(reg(tf.constant(w)).numpy())
    assert got == pytest.approx(1e-3 * expect[variant], rel=1e-5, abs=1e-9)
    assert reg.numpy_value(codes) == pytest.approx(1e-3 * expect[variant], rel=1e-12)
    # gradient flows straight through the quantizer: d/dw = lambda * scale * pi/m * sin(2 pi q/m)
    if variant == "sin2":
        wv = tf.Variable(w)
        with tf.GradientTape() as tape:
            r = reg(wv)
        g = tape.gradient(r, wv).numpy()
        ref = 1e-3 * scale * sum(np.pi / m * np.sin(2 * np.pi * codes / m) for m in (7, 8, 9))
        np.testing.assert_allclose(g, ref, rtol=1e-4, atol=1e-6)


def test_regularizer_survives_save_load(tmp_path):
    """A model trained with the regularizer reloads with it (same config, same penalty on the same kernel)."""
    tf.keras.utils.set_random_seed(0)
    m = models.build_mlp((12,), 3, (6,), quantizer={"name": "pot", "bits": 4},
                         regularizer={"moduli": (15, 16, 17), "strength": 2e-3, "variant": "sin2+any"})
    m.save(tmp_path / "m.h5")
    for back in (tq.load_model(tmp_path / "m.h5"), tf.keras.models.load_model(tmp_path / "m.h5")):
        for name in ("fc1", "out"):
            r0, r1 = m.get_layer(name).kernel_regularizer, back.get_layer(name).kernel_regularizer
            assert isinstance(r1, tq.ResidueRegularizer)
            assert r1.moduli == (15, 16, 17) and r1.strength == 2e-3 and r1.variant == "sin2+any" and r1.scale == 64
            k = back.get_layer(name).kernel
            assert float(r1(k)) == float(r0(m.get_layer(name).kernel)) > 0
        assert sorted(float(v) for v in back.losses) == sorted(float(v) for v in m.losses)


def test_regularizer_bad_moduli():
    with pytest.raises(ConfigError, match="not an integer"):
        tq.ResidueRegularizer((7, 8.5, 9), 1e-3)
    with pytest.raises(ConfigError, match="coprime"):
        tq.ResidueRegularizer((6, 8, 9), 1e-3)
    with pytest.raises(ConfigError, match="variant"):
        tq.ResidueRegularizer((7, 8, 9), 1e-3, variant="cos")


def test_residue_sparsity_uses_rns(bits6_model):
    rs = tq.residue_sparsity(bits6_model, (7, 8, 9))
    allc = []
    for name in ("fc1", "out"):
        layer = bits6_model.get_layer(name)
        codes = tq.weight_codes(layer.kernel_quantizer_internal, layer.kernel.numpy())
        ref = rns.residue_sparsity(codes, (7, 8, 9))
        assert rs["layers"][name]["total"] == ref["total"]
        assert rs["layers"][name]["per_modulus"]["8"] == ref[8]
        allc.append(codes.ravel())
    ref_all = rns.residue_sparsity(np.concatenate(allc), (7, 8, 9))
    assert rs["total"] == pytest.approx(ref_all["total"], abs=1e-15)
    assert rs["n_weights"] == sum(c.size for c in allc)


def test_optimize_residues_post_processing(bits6_model, tiny):
    new, rep = tq.optimize_residues(bits6_model, (7, 8, 9), tiny, epochs=2, strength=3e-3)
    assert rep["before"]["total"] == tq.residue_sparsity(bits6_model, (7, 8, 9))["total"]
    assert rep["after"]["total"] == tq.residue_sparsity(new, (7, 8, 9))["total"]
    assert rep["after"]["total"] > rep["before"]["total"]
    assert rep["ratio"] == pytest.approx(rep["after"]["total"] / rep["before"]["total"])
    assert 0 <= rep["after"]["accuracy"] <= 1
    assert isinstance(new.get_layer("fc1").kernel_regularizer, tq.ResidueRegularizer)


def test_in_training_regularizer_increases_sparsity(tiny):
    out = {}
    for lam in (0.0, 3e-3):
        tf.keras.utils.set_random_seed(0)
        reg = {"moduli": (7, 8, 9), "strength": lam} if lam else None
        m = models.build_mlp(tiny.input_shape, 10, (16,), quantizer={"name": "bits", "bits": 6}, regularizer=reg)
        m.compile(tf.keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
        m.fit(tiny.x_train, tiny.y_train, epochs=4, batch_size=32, verbose=0)
        out[lam] = tq.residue_sparsity(m, (7, 8, 9))["total"]
    assert out[3e-3] > out[0.0]


def test_pot_pruning_reaches_target_with_exact_zeros(tiny):
    tf.keras.utils.set_random_seed(0)
    m = models.build_mlp(tiny.input_shape, 10, (16,), quantizer={"name": "pot", "bits": 4})
    m.compile(tf.keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    cb = tq.PotPruning(target_sparsity=0.6, begin_epoch=0, end_epoch=3)
    m.fit(tiny.x_train, tiny.y_train, epochs=4, batch_size=32, verbose=0, callbacks=[cb])
    sched = [h["scheduled"] for h in cb.history]
    assert sched == sorted(sched) and sched[-1] == pytest.approx(0.6)
    assert cb.history[0]["scheduled"] < 0.6
    for name in ("fc1", "out"):
        layer = m.get_layer(name)
        q = layer.kernel_quantizer_internal
        w = layer.kernel.numpy()
        wq = q(tf.constant(w)).numpy()
        # still exactly the reference, with the raised margin
        ref = pot.decode(pot.quantize(w.astype(np.float64), 4, 0, q.zero_margin))
        assert np.array_equal(wq, ref.astype(np.float32))
        assert np.mean(wq == 0) >= 0.6
        assert np.mean(wq == 0) <= 0.6 + 2.0 / w.size
        # the pruned ones are the smallest magnitudes
        zero_mag = np.abs(w)[wq == 0]
        kept_mag = np.abs(w)[wq != 0]
        assert zero_mag.max() < kept_mag.min()
        assert np.all(wq[wq == 0] == 0.0) and not np.any(np.signbit(wq[wq == 0]) & (wq[wq == 0] != 0))
    assert tq.pot_sparsity(m)["fc1"]["terms"] == np.count_nonzero(m.get_layer("fc1").kernel_quantizer_internal(
        m.get_layer("fc1").kernel).numpy())


def test_pruning_bad_schedule():
    with pytest.raises(ConfigError, match="target_sparsity"):
        tq.PotPruning(target_sparsity=1.5)
    with pytest.raises(ConfigError, match="end_epoch"):
        tq.PotPruning(0.5, begin_epoch=3, end_epoch=2)


def test_essop_one_step_bit_exact(tiny):
    tf.keras.utils.set_random_seed(0)
    m = models.build_mlp(tiny.input_shape, 10, (12,))
    tr = tq.EssopTrainer(m, stream_length=32, lr_shift=-3, seed_x=0x1234, seed_d=0x0F0F)
    x, y = tiny.x_train[:4], tiny.y_train[:4]
    k0 = [lyr.kernel.numpy().copy() for lyr in tr.dense]
    b0 = [lyr.bias.numpy().copy() for lyr in tr.dense]
    # the exact errors and layer inputs of this step, from the untouched model
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        out, xs, zs = tr._forward(xt)
        loss = tf.keras.losses.SparseCategoricalCrossentropy()(y, out)
    deltas = [d.numpy() for d in tape.gradient(loss, zs)]
    xs = [v.numpy() for v in xs]
    # the errors are the exact back-propagated ones: worked out by hand for in -> fc1 (ReLU) -> out (softmax)
    w1, w2 = k0
    z1 = x.astype(np.float64) @ w1 + b0[0]
    h1 = np.maximum(z1, 0)
    z2 = h1 @ w2 + b0[1]
    p = np.exp(z2 - z2.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    d2 = (p - np.eye(10)[y]) / len(y)
    d1 = (d2 @ w2.T) * (z1 > 0)
    np.testing.assert_allclose(xs[0], x, rtol=0, atol=0)
    np.testing.assert_allclose(xs[1], h1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(deltas[1], d2, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(deltas[0], d1, rtol=1e-4, atol=1e-7)
    tr.step(x, y)
    for i, layer in enumerate(tr.dense):
        lx = essop.LFSR(16, 0x1234 + i)
        ld = essop.LFSR(16, 0x0F0F + i, essop.DEFAULT_TAPS_D)
        dw = np.zeros(k0[i].shape)
        for b in range(4):
            dw += essop.essop_update(xs[i][b].astype(np.float64), deltas[i][b].astype(np.float64), 32, lx, ld,
                                     -3).kernel()
        assert np.array_equal(layer.kernel.numpy(), (k0[i].astype(np.float64) - dw).astype(np.float32))
        assert np.any(dw != 0)
        ref = tq.essop_dense_step(xs[i], deltas[i], k0[i], 32, essop.LFSR(16, 0x1234 + i),
                                  essop.LFSR(16, 0x0F0F + i, essop.DEFAULT_TAPS_D), -3)
        assert np.array_equal(layer.kernel.numpy(), ref)
        db = 2.0 ** -3 * deltas[i].astype(np.float64).sum(axis=0)
        assert np.array_equal(layer.bias.numpy(), (b0[i].astype(np.float64) - db).astype(np.float32))


def test_essop_refuses_negative_inputs(tiny):
    from toolchain.errors import DataError

    m = models.build_mlp(tiny.input_shape, 10, (4,))
    with pytest.raises(DataError, match="non-negative"):
        tq.EssopTrainer(m, stream_length=8).fit(tiny.x_train[:8] - 0.5, tiny.y_train[:8], verbose=0)


def test_essop_exact_mode_and_fit(tiny):
    tf.keras.utils.set_random_seed(0)
    m = models.build_mlp(tiny.input_shape, 10, (12,))
    tr = tq.EssopTrainer(m, stream_length=16, lr_shift=-2, mode="exact")
    h = tr.fit(tiny.x_train[:64], tiny.y_train[:64], epochs=2, batch_size=16, verbose=0)
    assert len(h["loss"]) == 2 and h["loss"][1] < h["loss"][0] + 1.0
    with pytest.raises(ConfigError, match="stream_length"):
        tq.EssopTrainer(m, stream_length=48)
