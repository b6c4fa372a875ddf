"""The C-simulation fast path of nnet_arith_common.h against the ap_fixed headers themselves.

C-sim reads raw codes and rounds/saturates with 64-bit integers instead of going
through ap_fixed conversions.  Here g++ compiles both for every rounding mode,
every overflow mode, signed and unsigned results and right, zero and left
shifts, and the codes must agree on values that hit every half-way case.
"""
from __future__ import annotations

import itertools
import subprocess

import numpy as np
import pytest

from tests.conftest import ap_types_dir
from toolchain.arith.fixed import OVERFLOW_MODES, ROUNDING_MODES
from toolchain.resources import templates_dir

ACC_W, ACC_FRAC = 30, 12
# (width, integer) of result types: right shifts of 7 and 10 bits, none, a left shift of 2
SHAPES = ((8, 3), (12, 10), (10, -2), (16, 2))
NARROW_ACCUM = "ap_fixed<20,10,AP_RND_CONV,AP_SAT>"  # a forced accumulator that rounds and saturates first


def _values() -> np.ndarray:
    """Accumulator codes: random over the whole range, extremes, and every half-way neighbourhood."""
    rng = np.random.default_rng(7)
    lim = 1 << (ACC_W - 1)
    vals = [rng.integers(-lim, lim, 1500), rng.integers(-4096, 4096, 500), [-lim, lim - 1, 0, 1, -1]]
    for shift in range(1, 12):
        base = rng.integers(-(lim >> shift), lim >> shift, 20) << shift
        half = 1 << (shift - 1)
        vals.append((base[:, None] + np.array([-1, 0, 1, half - 1, half, half + 1])[None, :]).ravel())
    v = np.concatenate([np.asarray(a, dtype=np.int64) for a in vals])
    return np.clip(v, -lim, lim - 1)


def _cases() -> list[tuple[str, str, bool]]:
    """(accum type, result type, relu) for every mode combination."""
    cases = []
    for i, (q, o, signed) in enumerate(itertools.product(ROUNDING_MODES, OVERFLOW_MODES, (True, False))):
        base = "ap_fixed" if signed else "ap_ufixed"
        for j, (w, integer) in enumerate(SHAPES):
            accum = NARROW_ACCUM if (i + j) % 5 == 0 else f"ap_fixed<{ACC_W},{ACC_W - ACC_FRAC}>"
            cases.append((accum, f"{base}<{w},{integer},{q},{o}>", (i + j) % 3 == 0))
    return cases


def _source(values: np.ndarray, cases) -> str:
    checks = "\n".join(f'    bad += check<{accum}, {res}, {str(relu).lower()}>("{res} via {accum} relu={relu}");'
                       for accum, res, relu in cases)
    return f"""
#include <cstdio>
#include "nnet_utils/nnet_arith_common.h"
static const long long VALUES[] = {{{", ".join(f"{v}LL" for v in values)}}};
static const unsigned N_VALUES = sizeof(VALUES) / sizeof(VALUES[0]);
const int ACC_W = {ACC_W}, ACC_FRAC = {ACC_FRAC};

template <class accum_T, class res_T, bool RELU> long check(const char *name) {{
    long bad = 0;
    for (unsigned k = 0; k < N_VALUES; k++) {{
        // what ap_fixed itself does: exact value -> accum_T -> (relu) -> res_T
        ap_fixed<ACC_W, ACC_W - ACC_FRAC> exact;
        exact.range(ACC_W - 1, 0) = ap_int<ACC_W>(VALUES[k]).range(ACC_W - 1, 0);
        const accum_T sum = exact;
        const res_T want = (RELU && sum < 0) ? res_T(0) : res_T(sum);
        const res_T got = nnet::arith::cast_result<ACC_W, ACC_FRAC, accum_T, res_T, RELU>(VALUES[k]);
        // the native pieces on their own (no fallback can hide here)
        long long code = nnet::arith::native_requantize<accum_T, ACC_FRAC>(VALUES[k]);
        if (RELU && code < 0) code = 0;
        const long long native = nnet::arith::native_requantize<res_T, accum_T::width - accum_T::iwidth>(code);
        const long long want_code = nnet::arith::native_code(want);
        if (got.range(res_T::width - 1, 0) != want.range(res_T::width - 1, 0) || native != want_code) {{
            if (bad == 0) std::printf("MISMATCH %s acc=%lld want=%s got=%s native=%lld\\n", name, VALUES[k],
                                      want.to_string(2).c_str(), got.to_string(2).c_str(), native);
            bad++;
        }}
    }}
    return bad;
}}

int main() {{
    long bad = 0;
{checks}
    std::printf("checked %u values x %d types, %ld mismatches\\n", N_VALUES, {len(cases)}, bad);
    return bad != 0;
}}
"""


def _build(src: str, workdir, name: str):
    """Compile ``src`` against hls4ml's ap_types and our headers; returns the executable."""
    cpp, exe = workdir / f"{name}.cpp", workdir / name
    cpp.write_text(src)
    subprocess.run(["g++", "-O1", "-std=c++14", f"-I{ap_types_dir()}", f"-I{templates_dir()}", str(cpp), "-o",
                    str(exe)], check=True, capture_output=True, text=True)
    return exe


def test_raw_codes_and_casts_match_ap_fixed(tmp_path):
    values, cases = _values(), _cases()
    assert len({c[1] for c in cases}) == len(ROUNDING_MODES) * len(OVERFLOW_MODES) * 2 * len(SHAPES)
    exe = _build(_source(values, cases), tmp_path, "native_cast")
    run = subprocess.run([str(exe)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-2000:]
    assert f"{len(values)} values" in run.stdout


@pytest.mark.parametrize("ctype, codes", [("ap_fixed<9,3>", (-256, -1, 0, 1, 255)),
                                          ("ap_ufixed<9,3>", (0, 1, 256, 511)),
                                          ("ap_int<5>", (-16, -1, 0, 15)), ("ap_uint<62>", (0, (1 << 62) - 1))])
def test_raw_code_reads_the_stored_code(tmp_path, ctype, codes):
    setter = "x.setBits((ap_ulong){c}LL)" if "fixed" in ctype else "x = {c}LL"
    print_code = 'std::printf("%lld\\n", nnet::arith::raw_code<long long>(x));'
    body = "\n".join(f"    {{ T x; {setter.format(c=c)}; {print_code} }}" for c in codes)
    src = (f'#include <cstdio>\n#include "nnet_utils/nnet_arith_common.h"\ntypedef {ctype} T;\n'
           f"int main() {{\n{body}\n}}\n")
    exe = _build(src, tmp_path, "raw")
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split()
    assert [int(v) for v in out] == list(codes)


def _doubles() -> list[str]:
    """Doubles as C++ literals: random at every scale, exact ties and their neighbours on each type's grid,
    the range limits, huge values (beyond 2^62 after scaling), tiny and subnormal values, signed zeros."""
    rng = np.random.default_rng(11)
    vals = list(rng.normal(0, 1, 300) * 2.0 ** rng.integers(-30, 70, 300))
    for frac in (5, 10, -2, 14):  # the grids of SHAPES (and one more)
        ties = (rng.integers(-3000, 3000, 60) + 0.5) * 2.0 ** -frac
        vals += list(ties) + list(np.nextafter(ties, 0)) + list(np.nextafter(ties, np.inf))
        vals += [2.0 ** (10 - frac), -(2.0 ** (10 - frac)), 2.0 ** (10 - frac) - 2.0 ** -frac]
    vals += [0.0, -0.0, 1e300, -1e300, 2.0 ** 70 + 2.0 ** 20, -(2.0 ** 65), 5e-324, -5e-324, 1e-310, -1e-310,
             np.ldexp(-0.5 + 2.0 ** -54, -10)]
    return [repr(float(v)) for v in vals]  # 17 significant digits: the same double back


def test_from_double_matches_ap_fixed(tmp_path):
    """The batch entry point's native input conversion against ``T(double)`` for every mode and shape."""
    types = [f"{'ap_fixed' if signed else 'ap_ufixed'}<{w},{i},{q},{o}>"
             for q, o, signed in itertools.product(ROUNDING_MODES, OVERFLOW_MODES, (True, False))
             for w, i in SHAPES + ((40, 30),)]
    values = _doubles()
    checks = "\n".join(f'    bad += check<{t}>("{t}");' for t in types)
    src = f"""
#include <cstdio>
#include "nnet_utils/nnet_arith_common.h"
static const double VALUES[] = {{{", ".join(values)}}};
static const unsigned N = sizeof(VALUES) / sizeof(VALUES[0]);
template <class T> long check(const char *name) {{
    T mine[N], theirs[N];
    nnet::arith::from_doubles<T, N>(VALUES, mine);
    long bad = 0;
    for (unsigned k = 0; k < N; k++) {{
        theirs[k] = T(VALUES[k]);
        if (mine[k] != theirs[k] || nnet::arith::native_code(mine[k]) != nnet::arith::native_code(theirs[k])) {{
            if (bad < 3) std::printf("%s: %a -> %s, ap_fixed says %s\\n", name, VALUES[k],
                                     mine[k].to_string().c_str(), theirs[k].to_string().c_str());
            bad++;
        }}
    }}
    return bad;
}}
int main() {{
    long bad = 0;
{checks}
    std::printf("checked %u doubles x {len(types)} types, %ld mismatches\\n", N, bad);
    return bad != 0;
}}
"""
    run = subprocess.run([str(_build(src, tmp_path, "from_double"))], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:]
    assert f"{len(values)} doubles" in run.stdout
