"""The reference's fast path equals its per-term path bit for bit (no hls4ml C-sim, no g++).

* ``toolchain.arith.fastfixed`` against the int64 definitions of ``toolchain.arith.fixed``: requantize and
  quantize in every rounding and overflow mode, and every route of ``exact_matmul`` against Python ints;
* random plans of every kernel (shift, nk, mult, rns with CRT and MRC), Dense and Conv geometries (stride,
  padding, 1-D), extreme input codes, forced result types, and accumulator bounds on both sides of 2**53
  (float64 BLAS and int64) and below 2**24 (float32 BLAS): ``fast_accumulate`` == ``accumulate``,
  ``dot_layer`` == ``dot_layer(per_term=True)``, ``patches`` == the position-by-position im2col;
* models of the zoo converted by both backends (io_parallel and io_stream): ``predict`` ==
  ``predict(per_term=True)`` on raw inputs beyond the input type's range.
"""
from __future__ import annotations

import numpy as np
import pytest

from tests import zoo
from toolchain import kernels, reference
from toolchain.arith import fastfixed, fixed, ternary
from toolchain.arith.fixed import OVERFLOW_MODES, ROUNDING_MODES, FixedType
from toolchain.kernels.plan import Geometry, build_plan, dot_core

# ---- fastfixed against the definitions -----------------------------------------------------------------------

TARGETS = [(8, 3, True), (6, 2, False), (1, 1, True), (53, 20, True), (53, 53, False)]


def _codes(rng, shift: int) -> np.ndarray:
    """int64 codes up to 2**53 in magnitude: random at every scale, the extremes, and the exact ties and their
    neighbours of a right shift by ``shift``."""
    mags = rng.integers(0, 54, 400)
    codes = (rng.integers(0, 1 << 62, 400) >> (62 - mags)) * rng.choice([-1, 1], 400)
    edges = [0, 1, -1, 2, -2, 3, -3, fastfixed.EXACT, -fastfixed.EXACT, fastfixed.EXACT - 1, 1 - fastfixed.EXACT]
    if 0 < shift < 53:
        ties = (rng.integers(-(1 << (52 - shift)), 1 << (52 - shift), 40) << shift) + (1 << (shift - 1))
        edges += [int(t) + d for t in ties for d in (-1, 0, 1)]
    return np.concatenate([codes, np.array(edges, dtype=np.int64)])


MODES = [(r, o) for r in ROUNDING_MODES for o in OVERFLOW_MODES]


def _targets(rounding: str, overflow: str) -> list[FixedType]:
    return [FixedType(width, integer, signed, rounding, overflow) for width, integer, signed in TARGETS]


@pytest.mark.parametrize("rounding, overflow", MODES)
def test_requantize_equals_the_definition(rounding, overflow):
    rng = np.random.default_rng(len(rounding) * 7 + len(overflow))
    for t in _targets(rounding, overflow):
        for shift in (-3, 0, 1, 2, 7, 30, 52, 53, 60):
            codes = _codes(rng, shift)
            if shift < 0:
                codes = codes >> 3  # the definition shifts left in int64
            expected = fixed.requantize(codes, t.frac + shift, t)
            got = fastfixed.requantize(codes.astype(np.float64), t.frac + shift, t)
            assert np.array_equal(got, expected), (t, shift, codes[got != expected][:3])
            assert got.dtype == np.float64


@pytest.mark.parametrize("rounding, overflow", MODES)
def test_quantize_equals_the_definition(rounding, overflow):
    rng = np.random.default_rng(len(rounding) * 11 + len(overflow))
    for t in _targets(rounding, overflow):
        ties = (rng.integers(-300, 300, 200) + 0.5) * t.lsb
        x = np.concatenate([rng.normal(0, 2.0 ** rng.integers(-8, 60), 300),  # every scale, beyond the range too
                            ties, np.nextafter(ties, 0), np.nextafter(ties, np.inf),  # exact ties, just off them
                            [0.0, -0.0, 1e18, -1e18, 2.0 ** 70 + 2.0 ** 20, t.lsb / 3]])
        expected = fixed.quantize(x, t)
        got = fastfixed.quantize(x, t)
        assert np.array_equal(got, expected), (t, x[got != expected][:3])


def test_quantize_rounds_a_near_tie_as_cpp_does():
    """(-1/2 + 2**-54) LSB rounds to 0 in every round-to-nearest mode (g++ with ap_fixed<8,4,AP_RND_INF/
    AP_RND_MIN_INF,AP_SAT> says 0).  The remainder v - floor(v) = 1/2 + 2**-54 is not exact in float64 (it
    rounds onto the tie 1/2): both paths compare v with floor(v) + 1/2 instead."""
    x = np.array([np.ldexp(-0.5 + 2.0 ** -54, -4)])
    for rounding in ("AP_RND", "AP_RND_ZERO", "AP_RND_MIN_INF", "AP_RND_INF", "AP_RND_CONV"):
        t = FixedType(8, 4, True, rounding, "AP_SAT")
        assert fastfixed.quantize(x, t)[0] == 0 and fixed.quantize(x, t)[0] == 0


@pytest.mark.parametrize("overflow", ["AP_SAT", "AP_WRAP"])
def test_requantize_shifts_wide_codes_left_without_wrapping(overflow):
    """A 54-bit accumulator assigned to a type with 13 more fractional bits saturates (or wraps its low bits),
    as ap_fixed does with the exact value; an int64 left shift would need 67 bits."""
    t = FixedType(40, 20, True, "AP_RND", overflow)
    codes = np.array([fastfixed.EXACT - 1, -fastfixed.EXACT, 3, -3], dtype=np.float64)
    exact = [(int(c) << 13) for c in codes]
    expected = ([t.max_code, t.min_code, 3 << 13, -3 << 13] if overflow == "AP_SAT" else
                [((v + (1 << 39)) % (1 << 40)) - (1 << 39) for v in exact])
    assert fastfixed.requantize(codes, 7, t).tolist() == expected
    assert fixed.requantize(codes.astype(np.int64), 7, t).tolist() == expected


def _obj_matmul(x: np.ndarray, w: np.ndarray, shift: int) -> np.ndarray:
    return (np.asarray(x, dtype=np.int64).astype(object) @ w.astype(object)) * (1 << shift)


# (x magnitude bits, w magnitude bits, n_in, x as float32, result dtype): one case per route
MATMUL_ROUTES = {"float32": (7, 4, 30, True, np.float32), "float64": (40, 6, 16, False, np.float64),
                 "blocks": (45, 6, 300, False, np.int64), "int64": (40, 17, 4, False, np.int64),
                 "object": (40, 22, 8, False, object)}


@pytest.mark.parametrize("route", MATMUL_ROUTES)
def test_exact_matmul_routes(route):
    xbits, wbits, n_in, single, dtype = MATMUL_ROUTES[route]
    rng = np.random.default_rng(xbits + wbits)
    x = rng.integers(-(1 << xbits), 1 << xbits, (50, n_in))
    x[0], x[1] = -(1 << xbits), (1 << xbits) - 1  # extreme rows
    w = rng.integers(-(1 << wbits), 1 << wbits, (n_in, 5))
    w[:, 0] = (1 << wbits) - 1  # the column that reaches the bound
    bounds = fastfixed.dot_bound(w, -(1 << xbits), (1 << xbits) - 1)
    for shift in (0, 3):
        got = fastfixed.exact_matmul(x.astype(np.float32 if single else np.float64), w, shift, bounds)
        assert got.dtype == dtype
        assert np.array_equal(np.asarray(got).astype(object), _obj_matmul(x, w, shift))


# ---- random plans of every kernel --------------------------------------------------------------------------

GEOMETRIES = {
    "dense": Geometry(n_chan=24),
    "conv-same": Geometry(6, 6, 3, 3, 3, 6, 6, 1, 1, 1, 1),
    "conv-valid-s2": Geometry(7, 7, 2, 3, 3, 3, 3, 2, 2, 0, 0),
    "conv-pad-s21": Geometry(5, 6, 2, 2, 3, 3, 6, 2, 1, 1, 1),
    "conv1d": Geometry(1, 9, 3, 1, 3, 1, 4, 1, 2, 0, 0),
    "pointwise": Geometry(4, 4, 5, 1, 1, 4, 4, 1, 1, 0, 0),
}
KERNELS = [("shift", "pot", {}), ("nk", "nk", {"n_k": (4, 2)}), ("mult", "bits", {}), ("rns", "bits", {}),
           ("rns", "pot", {"reverse": "mrc"})]


def _weights(kind: str, n_in: int, n_out: int, rng) -> np.ndarray:
    """PoT with zeros, (4,2)-sparse ternary times 2**e per output, or 5-bit uniform, with exact zeros."""
    if kind == "pot":
        w = rng.choice([-1, 1], (n_in, n_out)) * 2.0 ** rng.integers(-4, 3, (n_in, n_out))
        return np.where(rng.random((n_in, n_out)) < 0.3, 0.0, w)
    if kind == "nk":
        return np.sign(ternary.project_nk(rng.normal(size=(n_in, n_out)), 4, 2)) * 2.0 ** rng.integers(-3, 1, n_out)
    return np.where(rng.random((n_in, n_out)) < 0.2, 0, rng.integers(-16, 16, (n_in, n_out))) / 8.0


def _plan(kernel: str, weights: str, options: dict, g: Geometry, xt: FixedType, seed: int, **types):
    rng = np.random.default_rng(seed)
    core = dot_core("fc", g, xt, _weights(weights, g.n_in, 4, rng), rng.integers(-64, 64, 4) / 16.0)
    return build_plan(core, kernels.get(kernel), options, **types)


def _inputs(xt: FixedType, g: Geometry, rng, n: int = 24) -> np.ndarray:
    size = g.in_height * g.in_width * g.n_chan
    x = rng.integers(xt.min_code, xt.max_code, (n, size), endpoint=True)
    x[0], x[1], x[2] = xt.min_code, xt.max_code, 0  # the extremes the bounds come from
    x[3, ::2], x[3, 1::2] = xt.min_code, xt.max_code
    return x


def _x_type_at(plan, limit: int, signed: bool = True) -> FixedType:
    """The widest input type (3 fractional bits) whose product bound is <= ``limit``."""
    colsum = int(np.abs(plan.w_codes).sum(axis=0).max())
    width = max(2, min(50, (limit // colsum).bit_length()))  # 2**(width-1) * colsum <= limit
    return FixedType(width, width - 3, signed)


def _assert_paths_agree(plan, x: np.ndarray, result_types) -> None:
    g, xt = plan.geometry, plan.x_type
    cols = reference.patches(x, g)
    assert np.array_equal(cols, reference._patches_per_position(x, g))
    slow = plan.kernel.accumulate(plan, cols)
    assert np.array_equal(np.asarray(plan.kernel.fast_accumulate(plan, cols)).astype(object), slow.astype(object))
    assert np.array_equal(reference.dot_accumulator(plan, cols), reference.dot_accumulator(plan, cols, per_term=True))
    if fastfixed.dot_bound(plan.w_codes, xt.min_code, xt.max_code)[0] <= fastfixed.EXACT32:
        fast32 = plan.kernel.fast_accumulate(plan, cols.astype(np.float32))
        assert fast32.dtype == np.float32 and np.array_equal(fast32.astype(np.int64), slow)
    for t in result_types:
        fast = reference.dot_layer(plan, x, xt, t)
        assert fast.dtype == np.int64
        assert np.array_equal(fast, reference.dot_layer(plan, x, xt, t, per_term=True)), t


@pytest.mark.parametrize("geometry", GEOMETRIES)
@pytest.mark.parametrize("kernel, weights, options", KERNELS, ids=[f"{k[0]}-{k[1]}" for k in KERNELS])
def test_fast_dot_equals_per_term(kernel, weights, options, geometry):
    g = GEOMETRIES[geometry]
    rng = np.random.default_rng(len(geometry) * 13 + len(kernel))
    for i, xt in enumerate((FixedType(8, 3, True), FixedType(6, 2, False, "AP_RND_CONV", "AP_SAT"),
                            FixedType(24, 10, True))):
        plan = _plan(kernel, weights, options, g, xt, seed=i)
        result_types = [None, FixedType(6, 2, False, "AP_RND_CONV", "AP_SAT"), FixedType(5, 1, True, "AP_RND_INF"),
                        FixedType(10, 8, True, "AP_TRN_ZERO", "AP_SAT_SYM"), FixedType(58, 30, True)]
        _assert_paths_agree(plan, _inputs(xt, g, rng), result_types)


@pytest.mark.parametrize("kernel, weights, options", KERNELS, ids=[f"{k[0]}-{k[1]}" for k in KERNELS])
@pytest.mark.parametrize("side", ["below", "above"])
def test_bounds_near_2_53_take_both_branches(kernel, weights, options, side):
    """Input types just below and just above the float64 limit: float64 BLAS, then int64 blocks; the
    accumulators (up to ~2**56 with the pre-shift) still match the per-term path."""
    g = GEOMETRIES["conv-pad-s21"]
    probe = _plan(kernel, weights, options, g, FixedType(8, 5, True), seed=5)
    xt = _x_type_at(probe, fastfixed.EXACT)
    if side == "above":
        xt = FixedType(xt.width + 1, xt.integer + 1, True)
    plan = _plan(kernel, weights, options, g, xt, seed=5, result_type=FixedType(40, 37, True, "AP_RND", "AP_SAT"))
    bound, _ = fastfixed.dot_bound(plan.w_codes, xt.min_code, xt.max_code)
    assert (bound <= fastfixed.EXACT) == (side == "below") and bound > fastfixed.EXACT // 4
    rng = np.random.default_rng(17)
    x = _inputs(xt, g, rng)
    acc = plan.kernel.fast_accumulate(plan, reference.patches(x, g))
    assert acc.dtype == (np.float64 if side == "below" else np.int64)
    _assert_paths_agree(plan, x, [None, FixedType(8, 4, True, "AP_RND_CONV", "AP_WRAP")])


def test_wide_accumulators_take_the_int64_products():
    """A single term above 2**53 (46-bit inputs, 12-bit weight codes): plain int64 products."""
    g = GEOMETRIES["dense"]
    xt = FixedType(46, 10, True)
    rng = np.random.default_rng(9)
    w = _weights("bits", g.n_in, 4, rng)
    w[0, 0] = 256.0  # code 2**11 with the others' 3 fractional bits
    core = dot_core("fc", g, xt, w, rng.integers(-64, 64, 4) / 16.0)
    plan = build_plan(core, kernels.get("mult"), {}, result_type=FixedType(30, 20, True, "AP_RND_CONV", "AP_SAT"))
    assert fastfixed.dot_bound(plan.w_codes, xt.min_code, xt.max_code)[1] > fastfixed.EXACT
    x = _inputs(xt, g, np.random.default_rng(3))
    _assert_paths_agree(plan, x, [None])


def test_forced_accumulator_types_round_before_the_result():
    """A user accum type narrower than the exact one: the accumulator is rounded and saturated, then cast."""
    g = GEOMETRIES["conv-same"]
    for i, accum in enumerate((FixedType(12, 6, True, "AP_RND", "AP_SAT"), FixedType(10, 9, True))):
        plan = _plan("shift", "pot", {}, g, FixedType(8, 3, True), seed=i, accum_type=accum)
        _assert_paths_agree(plan, _inputs(plan.x_type, g, np.random.default_rng(i)), [None])


# ---- other layers (hls4ml-like nodes) ----------------------------------------------------------------------


class _Node:
    """The attributes and weights of an hls4ml layer that the reference reads."""

    def __init__(self, class_name: str, attrs: dict, weights: dict | None = None):
        self.class_name, self.name, self.attrs, self.weights = class_name, "layer", attrs, weights or {}

    def get_attr(self, key: str, default=None):
        return self.attrs.get(key, default)

    def get_weights(self, name: str):
        from types import SimpleNamespace

        from toolchain.backends.hls_types import from_fixed

        data, t = self.weights[name]
        return SimpleNamespace(data=data, type=SimpleNamespace(precision=from_fixed(t)))


def _precision(t: FixedType):
    from types import SimpleNamespace

    from toolchain.backends.hls_types import from_fixed

    return SimpleNamespace(precision=from_fixed(t))


def _pool_node(op: str, accum: FixedType | None = None, global_: bool = False) -> _Node:
    attrs = {"n_filt": 3, "in_height": 4, "in_width": 4 if global_ else 6, "pool_op": op,
             "accum_t": accum and _precision(accum)}
    if not global_:
        attrs |= {"pool_height": 2, "pool_width": 2, "stride_height": 2, "stride_width": 2, "out_height": 2,
                  "out_width": 3}
    return _Node("GlobalPooling2D" if global_ else "Pooling2D", {k: v for k, v in attrs.items() if v is not None})


def _batchnorm_node(rng, s_type: FixedType, b_type: FixedType, n_chan: int = 3) -> _Node:
    return _Node("BatchNormalization", {}, {"scale": (rng.normal(0, 2, n_chan), s_type),
                                            "bias": (rng.normal(0, 4, n_chan), b_type)})


NARROW, WIDE = FixedType(8, 3, True, "AP_RND_CONV", "AP_SAT"), FixedType(52, 30, True)
LAYERS = {
    # (node, input types, output types): float64 and int64 routes, rounding and saturation
    "relu": (_Node("Activation", {"activation": "relu"}), [WIDE], [FixedType(6, 2, False, "AP_RND_CONV", "AP_SAT")]),
    "relu-wrap": (_Node("Activation", {"activation": "relu"}), [NARROW],
                  [FixedType(6, 2, False, "AP_RND"), FixedType(7, 2, True, "AP_RND_CONV", "AP_SAT")]),
    "linear": (_Node("Activation", {"activation": "linear"}), [NARROW], [FixedType(5, 1, True, "AP_RND_ZERO")]),
    "reshape": (_Node("Reshape", {}), [NARROW], [NARROW]),
    "add": (_Node("Merge", {"op": "add"}), [NARROW, FixedType(10, 2, False)], [FixedType(9, 5, True, "AP_RND_INF")]),
    "add-wide": (_Node("Merge", {"op": "add"}), [WIDE, FixedType(50, 10, True)], [FixedType(40, 20, True, "AP_RND")]),
    "bn": (_batchnorm_node(np.random.default_rng(1), FixedType(12, 4), FixedType(10, 6)), [NARROW],
           [FixedType(10, 4, True, "AP_RND_CONV", "AP_SAT"), FixedType(50, 30, True)]),
    "bn-wide": (_batchnorm_node(np.random.default_rng(2), FixedType(20, 4), FixedType(10, 6)), [WIDE],
                [FixedType(40, 24, True, "AP_RND_MIN_INF", "AP_SAT")]),
    "bn-channels": (_batchnorm_node(np.random.default_rng(3), FixedType(12, 4), FixedType(10, 6), n_chan=4), [NARROW],
                    [FixedType(10, 4, True)]),
    "max-pool": (_pool_node("max"), [NARROW], [FixedType(6, 2, True, "AP_RND")]),
    "max-pool-accum": (_pool_node("max", FixedType(6, 2, True, "AP_RND", "AP_SAT")), [NARROW], [NARROW]),
    "average-pool": (_pool_node("average"), [NARROW], [FixedType(8, 2, True, "AP_RND_CONV")]),
    "global-average-pool": (_pool_node("average", global_=True), [FixedType(10, 4, False)],
                            [FixedType(16, 4, False, "AP_TRN_ZERO")]),
    "average-pool-wide": (_pool_node("average"), [FixedType(53, 30, True)], [FixedType(40, 30, True, "AP_RND")]),
}


@pytest.mark.parametrize("name", LAYERS)
def test_fast_layers_equal_per_term(name):
    node, in_types, out_types = LAYERS[name]
    rng = np.random.default_rng(len(name))
    n_values = node.get_attr("in_height") * node.get_attr("in_width") * 3 if "pool" in name else 30
    ins = []
    for t in in_types:
        x = rng.integers(t.min_code, t.max_code, (40, n_values), endpoint=True)
        x[0], x[1] = t.min_code, t.max_code
        ins.append(x)
    for t in out_types:
        slow = reference._layer_fn(node, in_types, t, per_term=True)(ins)
        fast = reference._layer_fn(node, in_types, t, per_term=False)([reference._as_type(x, u)
                                                                       for x, u in zip(ins, in_types)])
        assert fast.dtype == (np.float64 if fastfixed.type_fits_float(t) else np.int64)
        assert np.array_equal(fast.astype(np.int64), slow), (name, t)


# ---- converted models --------------------------------------------------------------------------------------

MODELS = {
    "mlp-po2": lambda: zoo.mlp(1, "po2"),
    "mlp-bits-bn": lambda: zoo.mlp(4, "bits", batchnorm=True, softmax=True),
    "mlp-ternary": lambda: zoo.mlp(3, "ternary"),
    "cnn-valid": lambda: zoo.cnn(5),
    "cnn-same-bits": lambda: zoo.cnn(6, "bits", padding="same"),
    "resnet": lambda: zoo.resnet(1, (4, 8), qbatchnorm=True, float_last_relu=True, dropout=0.25, softmax=True),
    "resnet-bench": lambda: zoo.resnet(8, filters=(8, 16, 32)),
    "conv1d": lambda: zoo.conv1d(2),
    "resnet8-models": lambda: __import__("toolchain.models", fromlist=["build_resnet8"]).build_resnet8(
        (8, 8, 1), 5, filters=(4, 8, 8), seed=3, quantizer={"name": "po2", "bits": 4, "max_value": 1}),
}
MODEL_CASES = [(m, b, "io_parallel") for m in MODELS for b in ("Bitshift", "RNS")] + [
    ("resnet", "Bitshift", "io_stream"), ("mlp-po2", "RNS", "io_stream"), ("conv1d", "RNS", "io_stream")]


@pytest.mark.parametrize("model_name, backend, io_type", MODEL_CASES, ids=["-".join(c) for c in MODEL_CASES])
def test_fast_predict_equals_per_term(model_name, backend, io_type, tmp_path):
    model = MODELS[model_name]()
    hm = zoo.convert(model, backend, tmp_path / "prj", io_type, compile=False)
    x = zoo.raw_inputs(21, model.input_shape[1:], n=150)  # outliers beyond ap_fixed<16,6>: the input wraps
    fast = reference.predict(hm, x)
    slow = reference.predict(hm, x, per_term=True)
    bad = np.argwhere(fast != slow)
    assert bad.size == 0, f"{len(bad)} differ, first at {bad[0]}: {fast[tuple(bad[0])]} vs {slow[tuple(bad[0])]}"
    assert not np.signbit(fast[fast == 0]).any()  # +0.0, as the C++ returns


@pytest.mark.parametrize("threads", [1, 3])
def test_chunks_and_threads_do_not_change_the_result(tmp_path, monkeypatch, threads):
    model = zoo.resnet(2, (4, 8))
    hm = zoo.convert(model, "RNS", tmp_path / "prj", compile=False)
    x = zoo.raw_inputs(4, model.input_shape[1:], n=40)
    whole = reference.predict(hm, x, threads=1)
    monkeypatch.setattr(reference, "CHUNK_VALUES", 1)
    monkeypatch.setattr(reference, "MIN_CHUNK", 1)  # one sample per chunk
    assert reference._chunk(reference._program(hm, False)[0]) == 1
    assert np.array_equal(reference.predict(hm, x, threads=threads), whole)
    assert np.array_equal(reference.trace(hm, x)[hm.outputs[0]], whole)
