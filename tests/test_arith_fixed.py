"""toolchain.arith.fixed against the real ap_fixed headers compiled with g++."""
from __future__ import annotations

import itertools
import subprocess

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolchain.arith import fixed
from toolchain.arith.fixed import FixedType
from toolchain.errors import ArithValueError

TYPES = [
    FixedType(w, i, s, r, o)
    for (w, i), s, r, o in itertools.product(
        [(8, 3), (6, 0), (5, 7), (16, 6), (4, -1)], [True, False], fixed.ROUNDING_MODES, fixed.OVERFLOW_MODES)
]


def _inputs() -> np.ndarray:
    rng = np.random.default_rng(0)
    grid = np.arange(-1200, 1201) / 64.0  # many exact half-way points for every type above
    raw = rng.normal(0, 8, 3000) + rng.uniform(-1e-3, 1e-3, 3000)
    huge = np.array([1e6, -1e6, 3.0e9, -7.5e12, 2.0**40 + 0.5, -(2.0**33)], dtype=np.float64)
    tiny = np.array([1e-30, -1e-30, 2.0**-20, -(2.0**-20)])
    return np.concatenate([grid, raw, huge, tiny, np.float32(raw[:500]).astype(np.float64)])


@pytest.fixture(scope="module")
def cpp_codes(gxx, tmp_path_factory):
    """Codes produced by C++ ``T(x)`` for every type in TYPES, read back via ``range().to_int64()``."""
    lines = []
    for n, t in enumerate(TYPES):
        lines.append(f"  {{ {t.cpp()} v = x; std::printf(\"%lld \", (long long)v.range({t.width - 1}, 0)"
                     f"{'.to_int64()' if True else ''}); }}")
    body = "\n".join(lines)
    src = f"""#include <cstdio>
#include "ap_fixed.h"
int main() {{
  double x;
  while (std::scanf("%lf", &x) == 1) {{
{body}
    std::printf("\\n");
  }}
}}
"""
    exe = gxx(src, tmp_path_factory.mktemp("fixed"), "fixed_ref")
    xs = _inputs()
    out = subprocess.run([str(exe)], input="\n".join(repr(float(v)) for v in xs), capture_output=True,
                         text=True, check=True).stdout
    raw_bits = np.array([[int(tok) for tok in line.split()] for line in out.strip().splitlines()], dtype=np.int64)
    return xs, raw_bits


@pytest.mark.parametrize("t_index", range(len(TYPES)), ids=[str(t) for t in TYPES])
def test_quantize_matches_ap_fixed(cpp_codes, t_index):
    xs, raw_bits = cpp_codes
    t = TYPES[t_index]
    bits = raw_bits[:, t_index] & ((1 << t.width) - 1)
    expected = np.where(t.signed & (bits >= (1 << (t.width - 1))), bits - (1 << t.width), bits)
    got = fixed.quantize(xs, t)
    bad = np.flatnonzero(got != expected)
    assert bad.size == 0, f"{t}: x={xs[bad[0]]!r} gives {got[bad[0]]}, C++ gives {expected[bad[0]]}"


@given(st.lists(st.integers(-(2**20), 2**20), min_size=1, max_size=50), st.integers(0, 12),
       st.sampled_from(TYPES))
@settings(max_examples=200, deadline=None)
def test_requantize_equals_quantize_of_exact_value(codes, frac_in, t):
    codes = np.array(codes, dtype=np.int64)
    exact = codes / 2.0**frac_in  # exact in float64
    np.testing.assert_array_equal(fixed.requantize(codes, frac_in, t), fixed.quantize(exact, t))


def test_parse_type_forms():
    assert fixed.parse_type("ap_fixed<16,6>") == FixedType(16, 6)
    assert fixed.parse_type("ap_ufixed<8, 0, AP_RND_CONV, AP_SAT>") == FixedType(8, 0, False, "AP_RND_CONV", "AP_SAT")
    assert fixed.parse_type("ap_int<9>") == FixedType(9, 9)
    assert fixed.parse_type("fixed<10,4,RND,SAT>") == FixedType(10, 4, True, "AP_RND", "AP_SAT")
    t = FixedType(12, 3, False, "AP_RND", "AP_SAT")
    assert fixed.parse_type(t.cpp()) == t


@pytest.mark.parametrize("lo,hi,signed,bits", [(0, 1, False, 1), (0, 255, False, 8), (-128, 127, True, 8),
                                               (-129, 0, True, 9), (0, 128, True, 9), (-1, 0, True, 1),
                                               (0, 0, None, 1), (-5, 3, None, 4)])
def test_bits_for_range(lo, hi, signed, bits):
    assert fixed.bits_for_range(lo, hi, signed) == bits
    t = fixed.type_for_range(lo, hi, frac=3, signed=signed)
    assert t.min_code <= lo and hi <= t.max_code


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_is_refused(bad):
    with pytest.raises(ArithValueError, match=r"(nan|inf).*index \(1,\)"):
        fixed.quantize(np.array([0.5, bad]), FixedType(8, 3))


@pytest.mark.parametrize("kwargs,needle", [(dict(width=0, integer=0), "width 0"),
                                           (dict(width=8, integer=3, rounding="AP_ROUND"), "AP_ROUND"),
                                           (dict(width=8, integer=3, overflow="SATURATE"), "SATURATE")])
def test_bad_type_is_named(kwargs, needle):
    with pytest.raises(ArithValueError, match=needle):
        FixedType(**kwargs)


def test_parse_error_names_text():
    with pytest.raises(ArithValueError, match="float<3>"):
        fixed.parse_type("float<3>")
