"""The kernel registry: every kernel's reference accumulation against the plain integer dot product,
its encoding rules, and its templates (no hls4ml, no g++: see test_kernels_csim.py for C-simulation)."""
from __future__ import annotations

import re

import numpy as np
import pytest

from toolchain import kernels
from toolchain.arith import ternary
from toolchain.arith.fixed import FixedType
from toolchain.errors import UnsupportedError
from toolchain.kernels.base import (
    DENSE_STREAM_CALL_TEMPLATE,
    DOT_CONFIG_FIELDS,
    FRAME_CALL_TEMPLATE,
    STREAM_CALL_TEMPLATE,
)
from toolchain.kernels.plan import Geometry, build_plan, choose_kernel, dot_core
from toolchain.resources import templates_dir

X_TYPE = FixedType(8, 3, True)  # input codes in [-128, 127], 5 fractional bits
RNG = np.random.default_rng(7)


def _weights(kind: str, n_in: int, n_out: int, rng) -> np.ndarray:
    """Float weights of each kind: PoT with zeros, (8,2)-sparse ternary times 2**-e per output, 4-bit uniform."""
    if kind == "pot":
        w = rng.choice([-1, 1], (n_in, n_out)) * 2.0 ** rng.integers(-4, 2, (n_in, n_out))
        return np.where(rng.random((n_in, n_out)) < 0.3, 0.0, w)
    if kind == "nk":
        t = ternary.project_nk(rng.normal(size=(n_in, n_out)), 8, 2)
        return np.sign(t) * 2.0 ** rng.integers(-3, 1, n_out)[None, :]
    return rng.integers(-8, 8, (n_in, n_out)) / 4.0


def _core(kind: str, n_in: int = 20, n_out: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    return dot_core("fc", Geometry(n_chan=n_in), X_TYPE, _weights(kind, n_in, n_out, rng),
                    rng.integers(-64, 64, n_out) / 16.0)


def _plain_accumulator(core, cols: np.ndarray) -> np.ndarray:
    """acc = bias + sum (x * w) << pre_shift, in Python ints (the definition, not a kernel)."""
    w = core.w_codes.astype(object)
    return (cols.astype(object) @ w) * (1 << core.pre_shift) + core.bias_acc.astype(object)[None, :]


CASES = [("shift", "pot", {}), ("nk", "nk", {"n_k": (8, 2)}), ("mult", "bits", {}), ("mult", "pot", {}),
         ("rns", "pot", {}), ("rns", "bits", {"reverse": "mrc"}), ("rns", "nk", {"moduli": (255, 256, 257)})]


@pytest.mark.parametrize("name, weights, options", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_kernel_accumulates_the_exact_dot_product(name, weights, options):
    core = _core(weights, seed=len(name) + len(weights))
    kernel = kernels.get(name)
    plan = build_plan(core, kernel, options)
    cols = RNG.integers(X_TYPE.min_code, X_TYPE.max_code + 1, (300, core.n_in))
    cols[0], cols[1] = X_TYPE.min_code, X_TYPE.max_code  # the extremes the bounds are derived from
    acc = kernel.accumulate(plan, cols) + plan.bias_acc[None, :]
    expected = _plain_accumulator(core, cols)
    assert np.array_equal(acc.astype(object), expected)
    assert plan.acc_lo <= min(expected.min(), 0) and plan.acc_hi >= max(expected.max(), 0)


def test_rns_accepts_inputs_beyond_half_the_range_of_a_pruned_layer():
    """All weights zero: the smallest moduli cover the (zero) dot product; the inputs still exceed M/2
    and must be reduced modulo each m_j, not refused (the reference once raised here)."""
    core = dot_core("fc", Geometry(n_chan=4), FixedType(16, 4, True), np.zeros((4, 3)), np.array([1.5, -2.0, 0.25]))
    plan = build_plan(core, kernels.get("rns"), {})
    cols = np.array([[32767, -32768, 12345, -1]])
    assert np.array_equal(plan.kernel.accumulate(plan, cols), np.zeros((1, 3), dtype=np.int64))
    assert plan.generated_terms == 0


def test_counts_follow_the_encoding():
    core = _core("pot")
    shift = build_plan(core, kernels.get("shift"), {})
    assert shift.generated_terms == np.count_nonzero(shift.encoding.signs) and shift.multiplications == 0
    rns = build_plan(core, kernels.get("rns"), {})
    moduli = rns.encoding.moduli
    assert rns.dense_terms == core.n_in * core.n_out * len(moduli)
    assert rns.generated_terms == sum(np.count_nonzero(core.w_codes % m) for m in moduli)
    assert rns.multiplications == rns.generated_terms


BITSHIFT = tuple(kernels.get(n) for n in ("nk", "shift", "mult"))


def test_auto_takes_the_first_kernel_that_suits():
    assert choose_kernel(_core("pot"), "auto", BITSHIFT, {})[0].name == "shift"
    kernel, notes = choose_kernel(_core("bits"), "auto", BITSHIFT, {})
    assert kernel.name == "mult" and any("power-of-two" in n for n in notes)
    assert choose_kernel(_core("nk"), "auto", BITSHIFT, {"n_k": (8, 2)})[0].name == "nk"
    assert choose_kernel(_core("nk"), "auto", BITSHIFT, {})[0].name == "shift"  # nk is opt-in


def test_requested_arithmetic_is_kept_or_refused_naming_the_layer():
    assert choose_kernel(_core("pot"), "mult", BITSHIFT, {})[0].name == "mult"
    with pytest.raises(UnsupportedError, match=r"^layer fc: Arithmetic 'bitshift' needs power-of-two") as exc:
        choose_kernel(_core("bits"), "bitshift", BITSHIFT, {})
    assert (exc.value.layer, exc.value.key) == ("fc", "Arithmetic")
    with pytest.raises(UnsupportedError, match=r"^layer fc: NK .* needs ternary") as exc:
        choose_kernel(_core("bits"), "auto", BITSHIFT, {"n_k": (8, 2)})
    assert exc.value.key == "NK"
    with pytest.raises(UnsupportedError, match="'rns' is not offered"):
        choose_kernel(_core("pot"), "rns", BITSHIFT, {})


def test_encoding_errors_name_the_layer_and_key():
    with pytest.raises(UnsupportedError, match=r"^layer fc: moduli \(3, 4, 5\) .*: 9 bits missing") as exc:
        build_plan(_core("bits"), kernels.get("rns"), {"moduli": (3, 4, 5)})
    assert exc.value.key == "Moduli"
    dense = np.array([[1.0, -1, 1, 1, 0, 0, 0, 0]]).T  # three non-zeros in a group of 8
    core = dot_core("fc", Geometry(n_chan=8), X_TYPE, dense, None)
    with pytest.raises(UnsupportedError, match=r"^layer fc: .*"):
        build_plan(core, kernels.get("nk"), {"n_k": (8, 2)})


@pytest.mark.parametrize("name, weights, options", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_templates_fill_every_placeholder(name, weights, options):
    """The config struct names every array typedef the kernel's C++ reads; no placeholder is left."""
    kernel = kernels.get(name)
    plan = build_plan(_core(weights), kernel, options)
    fields = set(re.findall(r"\{(\w+)\}", DOT_CONFIG_FIELDS))
    params = {f: 1 for f in fields} | {a.typedef: f"{a.name}_t" for a in kernel.weight_arrays(plan)}
    params |= {"bias_t": "bias_t"} | kernel.config_params(plan)
    text = kernel.config_template.format(index=3, dot_config=DOT_CONFIG_FIELDS.format(**params), **params)
    assert "struct config3" in text and "{" not in text.replace("{\n", "").replace("= {", "")
    for array in kernel.weight_arrays(plan):
        assert f"typedef {array.name}_t {array.typedef};" in text
    for frame in (FRAME_CALL_TEMPLATE, STREAM_CALL_TEMPLATE, DENSE_STREAM_CALL_TEMPLATE):
        call = frame.format(kernel=kernel.cpp_kernel, input_t="in_t", output_t="out_t", config="config3", input="x",
                            output="y", weights="b3, w3")
        assert call.endswith("(x, y, b3, w3);") and f"<{kernel.cpp_kernel}, in_t, out_t, config3>" in call
    assert (templates_dir() / kernel.header).is_file()
    assert f"struct {kernel.cpp_kernel.split('::')[-1]} " in (templates_dir() / kernel.header).read_text()


def test_rns_refuses_a_dynamic_range_beyond_2_62():
    """The reference converts in int64 and the C++ tables hold M in 64 bits: larger M is refused by name."""
    with pytest.raises(UnsupportedError, match=r"^layer fc: moduli .* above the 2\*\*62") as exc:
        build_plan(_core("pot"), kernels.get("rns"), {"moduli": (2**22 - 1, 2**22, 2**22 + 1)})
    assert exc.value.key == "Moduli"



@pytest.mark.parametrize("name, weights, options", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_fast_accumulate_equals_the_per_term_accumulation(name, weights, options):
    """What the reference runs by default (the exact product, float or int64) is each kernel's own sum."""
    plan = build_plan(_core(weights, seed=len(name) * len(weights)), kernels.get(name), options)
    extremes = np.repeat([[X_TYPE.min_code], [X_TYPE.max_code]], plan.n_in, axis=1)
    cols = np.concatenate([extremes, RNG.integers(X_TYPE.min_code, X_TYPE.max_code + 1, (200, plan.n_in))])
    slow = plan.kernel.accumulate(plan, cols)
    for dtype in (np.int64, np.float64, np.float32):
        assert np.array_equal(plan.kernel.fast_accumulate(plan, cols.astype(dtype)).astype(np.int64), slow), dtype
