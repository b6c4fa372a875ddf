"""Division-free RNS primitives: nnet_rns.h's residue data path and its step model in toolchain.arith.rns.

The oracle is always plain ``%`` on Python integers, or the Chinese remainder theorem on Python big integers
(with ``pow(x, -1, m)`` inverses), never the code under test:

* the Python step functions (reduce_bounded, barrett_reduce, mod_*, to_residue_fold, crt/mrc_division_free)
  against ``%`` for moduli of every kind, exhaustively on small ranges and at random plus boundary values
  on wide ones; their reduction plans for every modulus kind and input width (bounds shrink, the widths
  stay what the hardware path sizes for);
* a C++ harness compiled twice with g++ -std=c++11 -O1, on the C-sim fast path (native integers) and with
  -DARITH4ML_SYNTHESIS_PATH (ap types), whose outputs must equal the oracle, and so the Python model, bit
  for bit;
* the source: no ``%`` or ``/`` in the header's data-path section or in the Python data functions.
"""
from __future__ import annotations

import ast
import inspect
import itertools
import math
import re
import shutil
import subprocess
import textwrap

import numpy as np
import pytest

from tests.conftest import ap_types_dir
from toolchain.arith import rns
from toolchain.errors import ArithValueError
from toolchain.resources import templates_dir

POW2 = tuple(2**n for n in range(1, 32))
LOW = tuple(2**n - 1 for n in range(2, 32))
HIGH = tuple(2**n + 1 for n in range(2, 32))
GENERIC = (6, 10, 11, 13, 35, 100, 1000003, 2147483629)
ALL_MODULI = POW2 + LOW + HIGH + GENERIC
EXHAUSTIVE_BITS = 16
RNG_SEED = 20240611


def _rng(*salt: int) -> np.random.Generator:
    return np.random.default_rng([RNG_SEED, *salt])


def _oracle(values, m: int) -> list[int]:
    """Plain ``%`` on Python integers."""
    return [int(v) % m for v in np.asarray(values, dtype=object).ravel()]


def _unsigned_values(m: int, bits: int, count: int = 200) -> np.ndarray:
    """Values in [0, 2**bits): random, the top and bottom, every power of two and its neighbours, multiples
    of m and their neighbours near the top and near 2**n chunk boundaries."""
    top = (1 << bits) - 1
    rng = _rng(m & 0xFFFFFFFF, bits)
    vals = {0, 1, top, top - 1, m - 1, m, m + 1, 2 * m - 1, 2 * m, 2 * m + 1, (m - 1) ** 2, m * (m - 1)}
    vals.update(int(v) for v in rng.integers(0, 1 << min(bits, 62), count))
    if bits > 62:
        vals.update(int(a) << (bits - 31) | int(b) for a, b in zip(rng.integers(0, 1 << 31, count),
                                                                   rng.integers(0, 1 << (bits - 31), count)))
    for j in range(bits):
        vals.update((1 << j) - 1 + d for d in (0, 1, 2))
    q = top // m
    vals.update(k * m + d for k in (q, q - 1, q // 2) for d in (-1, 0, 1))
    return np.array(sorted(v for v in vals if 0 <= v <= top), dtype=object)


def _signed_codes(width: int, count: int = 200) -> np.ndarray:
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    if width <= EXHAUSTIVE_BITS:
        return np.arange(lo, hi + 1, dtype=np.int64)
    rng = _rng(width)
    vals = {lo, lo + 1, hi, hi - 1, 0, 1, -1, 2, -2}
    vals.update(int(v) for v in rng.integers(max(lo, -(2**62)), min(hi, 2**62), count))
    vals.update(s * ((1 << j) + d) for j in range(width - 1) for d in (-1, 0, 1) for s in (1, -1))
    return np.array(sorted(v for v in vals if lo <= v <= hi), dtype=np.int64)


def _crt_oracle(residues: np.ndarray, moduli) -> list[int]:
    """Signed X from residues by the textbook CRT on Python big integers."""
    big_m = math.prod(moduli)
    out = []
    for col in np.asarray(residues, dtype=object).T:
        x = sum(int(r) * (big_m // m) * pow(big_m // m, -1, m) for r, m in zip(col, moduli)) % big_m
        out.append(x - big_m if x > (big_m - 1) // 2 else x)
    return out


# --------------------------------------------------------------------------- the Python step model


@pytest.mark.parametrize("m, kind, n, width", [
    (2, "pow2", 1, 1), (256, "pow2", 8, 8), (2**31, "pow2", 31, 31), (3, "low", 2, 2), (255, "low", 8, 8),
    (2**31 - 1, "low", 31, 31), (5, "high", 2, 3), (9, "high", 3, 4), (257, "high", 8, 9),
    (2**31 + 1, "high", 31, 32), (6, "generic", 3, 3), (11, "generic", 4, 4), (35, "generic", 6, 6),
    (1000003, "generic", 20, 20)])
def test_modulus_kind(m, kind, n, width):
    assert rns.modulus_kind(m) == (kind, n, width)


@pytest.mark.parametrize("bad", [1, 0, -7, 2**31 + 2, 2.0, True, "7"])
def test_modulus_kind_refuses(bad):
    with pytest.raises(ArithValueError, match="modulus"):
        rns.modulus_kind(bad)


@pytest.mark.parametrize("m", ALL_MODULI)
def test_reduction_plans_shrink_to_a_residue(m):
    """Every input width 1..64 and the bounds of a product, a MAC and a 2**10-term channel sum: the plan ends
    in [0, m), each fold shrinks the bound, and the chains stay short (hardware depth)."""
    kind = rns.modulus_kind(m)
    bounds = [(1 << w) - 1 for w in range(1, 65)] + [(m - 1) ** 2, m * (m - 1), min(1024 * (m - 1) ** 2, 2**64 - 1)]
    for generic in (False, True) if m <= rns.MAX_BARRETT_MODULUS else (False,):
        for bound in bounds:
            plan = rns.reduce_plan(m, bound, generic)
            assert plan[0].bound_in == bound and plan[-1].bound == min(bound, m - 1)
            for a, b in zip(plan, plan[1:]):
                assert b.bound_in == a.bound < a.bound_in
            assert len(plan) <= 4, plan
            if kind.kind == "pow2" and not generic:
                assert [s.method for s in plan] == (["none"] if bound < m else ["mask"])
    # a product of two residues: one step (Barrett for generic moduli, its multiplier within 64 bits so the
    # C-sim fast path stays native), or a fold and a final step
    plan = rns.reduce_plan(m, (m - 1) ** 2)
    if kind.kind == "generic":
        ((method, bound_in, _, (k, w, mu)),) = plan
        assert method == "barrett" and (bound_in >> (k - 1)).bit_length() + mu.bit_length() <= 64
    elif kind.kind == "high":
        assert [s.method for s in plan] == ["high_final"]
    assert len(plan) <= 3


def test_plan_refuses_barrett_from_2_31():
    with pytest.raises(ArithValueError):
        rns.reduce_plan(2**31, 2**40, generic=True)
    with pytest.raises(ArithValueError):
        rns.barrett_reduce([1], 2**31 + 1, 2**40)


@pytest.mark.parametrize("m", ALL_MODULI)
def test_reduce_exhaustive_small_ranges(m):
    """Every x < 2**w for w = 1..16, each width with its own plan; generic moduli also by Barrett."""
    for w in range(1, EXHAUSTIVE_BITS + 1):
        x = np.arange(1 << w, dtype=np.int64)
        want = x % m  # numpy % on non-negative int64: the oracle
        np.testing.assert_array_equal(rns.reduce_bounded(x, m, (1 << w) - 1), want, err_msg=f"m={m} w={w}")
        if m <= rns.MAX_BARRETT_MODULUS and w in (4, 11, 16):
            np.testing.assert_array_equal(rns.barrett_reduce(x, m, (1 << w) - 1), want, err_msg=f"m={m} w={w}")
        if rns.modulus_kind(m).kind != "generic" and w in (3, 9, 16):
            np.testing.assert_array_equal(rns.reduce_chunks(x, m, (1 << w) - 1), want, err_msg=f"m={m} w={w}")


@pytest.mark.parametrize("m", ALL_MODULI)
def test_reduce_wide_values(m):
    for w in (20, 24, 31, 32, 33, 40, 48, 62, 63, 64):
        x = _unsigned_values(m, w)
        assert rns.reduce_bounded(x, m, (1 << w) - 1).tolist() == _oracle(x, m), f"m={m} w={w}"
        if m <= rns.MAX_BARRETT_MODULUS and w in (24, 33, 64):
            assert rns.barrett_reduce(x, m, (1 << w) - 1).tolist() == _oracle(x, m), f"m={m} w={w}"
    for bound in ((m - 1) ** 2, m * (m - 1), min(1024 * (m - 1) ** 2, 2**64 - 1)):  # products, MACs, channel sums
        x = np.array([v for v in _unsigned_values(m, bound.bit_length()) if v <= bound] + [bound], dtype=object)
        assert rns.reduce_bounded(x, m, bound).tolist() == _oracle(x, m), f"m={m} bound={bound}"


def test_reduce_chunks_refuses_generic_and_inputs_out_of_range():
    with pytest.raises(ArithValueError, match="barrett_reduce"):
        rns.reduce_chunks([1], 11, 100)
    with pytest.raises(ArithValueError, match=r"101 at index \(1,\)"):
        rns.reduce_bounded([3, 101], 7, 100)
    with pytest.raises(ArithValueError):
        rns.reduce_bounded([-1], 7, 100)
    with pytest.raises(ArithValueError, match="bound"):
        rns.reduce_bounded([1], 7, 2**64)
    with pytest.raises(ArithValueError):
        rns.mod_mul([7], [1], 7)  # not a residue


@pytest.mark.parametrize("m", ALL_MODULI)
def test_modular_add_sub_mul_mac(m):
    if m <= 64:  # every pair (and triple) of residues
        a, b = (g.ravel() for g in np.meshgrid(np.arange(m), np.arange(m)))
        acc = (a * 7 + b * 3) % m
    else:
        rng = _rng(m & 0xFFFFFFFF)
        edge = np.array([0, 1, m - 2, m - 1])
        a = np.concatenate([rng.integers(0, m, 3000), np.repeat(edge, 4)])
        b = np.concatenate([rng.integers(0, m, 3000), np.tile(edge, 4)])
        acc = np.concatenate([rng.integers(0, m, 3000), np.tile(edge[::-1], 4)])
    ao, bo, co = (v.astype(object) for v in (a, b, acc))
    assert rns.mod_add(a, b, m).tolist() == list((ao + bo) % m)
    assert rns.mod_sub(a, b, m).tolist() == list((ao - bo) % m)
    assert rns.mod_mul(a, b, m).tolist() == list(ao * bo % m)
    assert rns.mod_mac(acc, a, b, m).tolist() == list((co + ao * bo) % m)


@pytest.mark.parametrize("width", [1, 2, 4, 8, 16, 24, 31, 32, 33, 48, 62, 63, 64])
def test_forward_conversion_of_signed_codes(width):
    codes = _signed_codes(width)
    for m in ALL_MODULI:
        got = rns.to_residue_fold(codes, width, m)
        assert got.tolist() == _oracle(codes, m), f"m={m} width={width}"


def test_forward_conversion_refuses_codes_outside_the_width():
    with pytest.raises(ArithValueError, match="signed 8-bit"):
        rns.to_residue_fold([127, 128], 8, 7)
    with pytest.raises(ArithValueError, match="signed 8-bit"):
        rns.to_residue_fold([-129], 8, 7)
    with pytest.raises(ArithValueError, match="width"):
        rns.to_residue_fold([0], 65, 7)


EXHAUSTIVE_SETS = [(3, 4, 5), (7, 8, 9), (2, 3, 5, 7), (15, 16, 17), (3, 5, 7, 11, 13), (5, 7), (6, 35, 11)]
WIDE_SETS = [(255, 256, 257), (1023, 1024, 1025), (65535, 65536, 65537), (2**31 - 1, 2**31),
             (2**31 + 1, 2**31 - 1), (1000003, 6, 35, 13), (4095, 4096, 4097, 8191, 8189),
             rns.moduli_family(20)]


@pytest.mark.parametrize("moduli", EXHAUSTIVE_SETS, ids=str)
def test_reverse_conversions_every_residue_tuple(moduli):
    res = np.array(list(itertools.product(*[range(m) for m in moduli])), dtype=np.int64).T
    want = _crt_oracle(res, moduli)
    assert rns.crt_division_free(res, moduli).tolist() == want
    assert rns.mrc_division_free(res, moduli).tolist() == want
    big_m = math.prod(moduli)
    assert sorted(want) == list(range(-(big_m // 2), (big_m - 1) // 2 + 1))  # the oracle covers the range once


def _reverse_inputs(moduli, count: int = 1500) -> np.ndarray:
    """Random residue tuples and those of the boundary values 0, +-1, (M-1)/2, -(M//2) and their neighbours."""
    big_m = math.prod(moduli)
    rng = _rng(len(moduli), moduli[0] & 0xFFFFFFFF)
    half = (big_m - 1) // 2
    xs = [0, 1, -1, half, half - 1, -(big_m // 2), -(big_m // 2) + 1, 2, -2]
    edge = np.array([[x % m for m in moduli] for x in xs], dtype=np.int64).T
    rand = np.stack([rng.integers(0, m, count) for m in moduli])
    return np.concatenate([edge, rand], axis=1)


@pytest.mark.parametrize("moduli", WIDE_SETS, ids=str)
def test_reverse_conversions_wide_sets(moduli):
    res = _reverse_inputs(moduli)
    want = _crt_oracle(res, moduli)
    assert rns.crt_division_free(res, moduli).tolist() == want
    assert rns.mrc_division_free(res, moduli).tolist() == want
    # the constants against pow(): M_j and |M_j^-1|_{m_j}, |m_i^-1|_{m_j}
    big_m = math.prod(moduli)
    weights, inverses = rns.crt_constants(moduli)
    assert all(w * m == big_m and w * inv % m == 1 for w, inv, m in zip(weights, inverses, moduli))
    c = rns.mrc_constants(moduli)
    assert all(moduli[i] * c[i][j] % moduli[j] == 1 for i in range(len(moduli)) for j in range(i + 1, len(moduli)))


def test_reverse_conversions_refuse_bad_bases_and_residues():
    with pytest.raises(ArithValueError, match="not coprime"):
        rns.crt_division_free([[0], [0]], (6, 9))
    with pytest.raises(ArithValueError, match="2\\*\\*62"):
        rns.mrc_division_free([[0], [0], [0]], (2**31 - 1, 2**31, 2**31 + 1))
    with pytest.raises(ArithValueError, match="not in \\[0, 8\\)"):
        rns.crt_division_free([[0], [8], [0]], (7, 8, 9))
    with pytest.raises(ArithValueError, match="2147483649"):  # 2**32 + 1 is too wide a modulus
        rns.crt_division_free([[0], [0]], (3, 2**32 + 1))


# --------------------------------------------------------------------------- no % or / on data

_DIVISIONS = (ast.Mod, ast.FloorDiv, ast.Div)
_DIVIDING_CALLS = {"mod", "remainder", "fmod", "floor_divide", "divide", "true_divide", "divmod"}


def _python_divisions(func) -> list[str]:
    """Divisions in a function's source: %, //, / (as operators or augmented) and numpy's dividing calls."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.BinOp, ast.AugAssign)) and isinstance(node.op, _DIVISIONS):
            found.append(f"line {node.lineno}: {type(node.op).__name__}")
        elif isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in _DIVIDING_CALLS:
                found.append(f"line {node.lineno}: {name}()")
    return found


def test_python_data_functions_do_not_divide():
    public = {"reduce_bounded", "reduce_chunks", "barrett_reduce", "mod_add", "mod_sub", "mod_mul", "mod_mac",
              "to_residue_fold", "crt_division_free", "mrc_division_free"}
    assert public <= {f.__name__ for f in rns.DATA_PATH_FUNCTIONS}
    for func in rns.DATA_PATH_FUNCTIONS:
        assert _python_divisions(func) == [], func.__name__
    # the check finds what it looks for
    assert len(_python_divisions(rns.from_residues_mrc)) >= 1  # np.mod
    assert len(_python_divisions(rns.crt_constants)) >= 1  # //


HEADER = templates_dir() / "nnet_utils" / "nnet_rns.h"
BEGIN, END = "RNS-DATAPATH-BEGIN", "RNS-DATAPATH-END"


def _strip_comments(src: str) -> str:
    """C++ source without comments and string or character literals."""
    pattern = re.compile(r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', re.S)
    return pattern.sub(lambda mo: "" if mo.group(0)[0] == "/" else '""', src)


def _cpp_divisions(code: str) -> list[str]:
    return [line for line in _strip_comments(code).splitlines() if "%" in line or "/" in line]


def test_header_data_path_does_not_divide():
    text = HEADER.read_text()
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    section = text[text.index(BEGIN):text.index(END)]
    section = section[section.index("\n"):]  # the marker's own comment line
    assert _cpp_divisions(section) == []
    # every function that touches data is defined inside the section
    for name in ("reduce_bounded", "reduce", "barrett_reduce", "mod_add", "mod_sub", "mod_mul", "mod_mac",
                 "to_residue_fold", "to_residues_fold", "reduce_channels", "reverse_crt", "reverse_mrc"):
        assert re.search(rf"\b{name}\(const", section), name
    for method in ("none", "mask", "subtract", "fold_low", "fold_high", "high_final", "barrett", "prefold"):
        assert re.search(rf"struct reducer<M, B, G, method_{method}>", section), method
    # nothing else in the header defines them (a copy outside the section would escape the check)
    outside = text[:text.index(BEGIN)] + text[text.index(END):]
    assert not re.search(r"\bstruct reducer<M, B, G, method_", outside)
    # and the check finds what it looks for: the section before it (constexpr helpers) and the old kernel
    assert _cpp_divisions(text[:text.index(BEGIN)])
    assert _cpp_divisions("int f(int x) { return x % 7; } // 100 % sure") == ["int f(int x) { return x % 7; } "]
    assert _cpp_divisions('const char *s = "a/b"; /* x / y */ int y = 1;') == []


# --------------------------------------------------------------------------- the C++ harness

HARNESS_SETS = [(255, 256, 257), (7, 8, 9), (1023, 1024, 1025), (3, 5, 7, 11, 13), (65535, 65536, 65537),
                (2147483647, 2147483648), (2147483649, 2147483647), (1000003, 6, 35, 13),
                (4095, 4096, 4097, 8191, 8189)]  # the last: the CRT sum 5 M passes 2**64
HARNESS_MODULI = tuple(sorted({m for s in HARNESS_SETS for m in s}))
REDUCE_WIDTHS = (8, 16, 32, 64)
FOLD_WIDTHS = (4, 8, 16, 24, 33, 64)
FORWARD_WIDTH = 16


def _harness_cases() -> list[dict]:
    """Every case: the C++ call, its inputs (one list per operand) and the oracle's outputs."""
    cases: list[dict] = []

    def add(call: str, kind: str, inputs: list, want: list, model: list) -> None:
        cases.append({"call": call, "kind": kind, "inputs": inputs, "want": want, "model": model, "id": len(cases)})

    for m in HARNESS_MODULI:
        M = f"{m}ULL"
        for w in REDUCE_WIDTHS:
            x = _unsigned_values(m, w, 60)
            add(f"reduce<{M}, {w}>", f"u{w}", [x], _oracle(x, m), rns.reduce_bounded(x, m, (1 << w) - 1).tolist())
            if m <= rns.MAX_BARRETT_MODULUS and w in (16, 64):
                add(f"barrett_reduce<{M}, {(1 << w) - 1}ULL>", f"u{w}", [x], _oracle(x, m),
                    rns.barrett_reduce(x, m, (1 << w) - 1).tolist())
        bound = min(37 * (m - 1) ** 2, 2**64 - 1)  # a channel sum of 37 products
        x = np.array([v for v in _unsigned_values(m, bound.bit_length(), 60) if v <= bound] + [bound], dtype=object)
        add(f"reduce_bounded<{M}, {bound}ULL>", "u64", [x], _oracle(x, m), rns.reduce_bounded(x, m, bound).tolist())
        # modulus<M>: kind (enum order pow2, low, high, generic), width, n, mu of a residue product; from the
        # definitions, not from modulus_kind
        kind = 0 if m & (m - 1) == 0 else 1 if (m + 1) & m == 0 else 2 if (m - 1) & (m - 2) == 0 else 3
        width = (m - 1).bit_length()
        mu = (1 << ((m - 1) ** 2).bit_length()) // m if m < 2**31 else 0
        info = rns.modulus_kind(m)
        model = [rns.MODULUS_KINDS.index(info.kind), info.width, info.n]
        plan = rns.reduce_plan(m, (m - 1) ** 2, generic=True) if m < 2**31 else ()
        model.append(plan[-1].params[2] if plan and plan[-1].method == "barrett" else mu)
        add(f"modulus<{M}>", "modulus", [], [kind, width, width - (kind == 2), mu], model)
        rng = _rng(m & 0xFFFFFFFF, 99)
        a, b, c = (np.concatenate([[0, m - 1, m - 1, 1], rng.integers(0, m, 60)]).astype(np.int64) for _ in range(3))
        ao, bo, co = (v.astype(object) for v in (a, b, c))
        add(f"mod_add<{M}>", "res2", [a, b], list((ao + bo) % m), rns.mod_add(a, b, m).tolist())
        add(f"mod_sub<{M}>", "res2", [a, b], list((ao - bo) % m), rns.mod_sub(a, b, m).tolist())
        add(f"mod_mul<{M}>", "res2", [a, b], list(ao * bo % m), rns.mod_mul(a, b, m).tolist())
        add(f"mod_mac<{M}>", "res3", [c, a, b], list((co + ao * bo) % m), rns.mod_mac(c, a, b, m).tolist())
        for w in FOLD_WIDTHS:
            codes = _signed_codes(w, 60)
            if codes.size > 400:
                codes = np.concatenate([codes[:100], codes[-100:], _rng(w, m & 0xFFFF).choice(codes, 100)])
            add(f"to_residue_fold<{M}, {w}>", f"s{w}", [codes], _oracle(codes, m),
                rns.to_residue_fold(codes, w, m).tolist())
    for moduli in HARNESS_SETS:
        base = f"moduli_list<{', '.join(f'{m}ULL' for m in moduli)}>"
        res = _reverse_inputs(moduli, 200)
        want = _crt_oracle(res, moduli)
        add(f"reverse_crt<{base}>", "reverse", list(res), want, rns.crt_division_free(res, moduli).tolist())
        add(f"reverse_mrc<{base}>", "reverse", list(res), want, rns.mrc_division_free(res, moduli).tolist())
        codes = _signed_codes(FORWARD_WIDTH)[::97]
        want = [int(code) % m for code in codes for m in moduli]
        model = np.stack([rns.to_residue_fold(codes, FORWARD_WIDTH, m) for m in moduli]).T.ravel().tolist()
        add(f"to_residues_fold<{base}, {FORWARD_WIDTH}>", "forward", [codes], want, model)
        xmax = min(37 * (max(moduli) - 1) ** 2, 2**64 - 1)  # channel sums of 37 products
        sums = np.stack([np.array([v for v in _unsigned_values(m, xmax.bit_length(), 40) if v <= xmax][:40],
                                  dtype=object) for m in moduli])
        want = [int(v) % m for col in sums.T for v, m in zip(col, moduli)]
        model = np.stack([rns.reduce_bounded(row, m, xmax) for row, m in zip(sums, moduli)]).T.ravel().tolist()
        add(f"reduce_channels<{base}, {xmax}ULL>", "channels", list(sums), want, model)
        weights, inverses = rns.crt_constants(moduli)
        c = rns.mrc_constants(moduli)
        big_m = math.prod(moduli)
        n = len(moduli)
        # the oracle: M / m_j and pow(); the model's tables must agree with it as well
        want = [big_m, (big_m - 1) // 2] + [big_m // m for m in moduli] + \
            [pow(big_m // m, -1, m) for m in moduli] + \
            [pow(moduli[i], -1, moduli[j]) for i in range(n) for j in range(i + 1, n)]
        model = [big_m, (big_m - 1) // 2, *weights, *inverses] + [c[i][j] for i in range(n) for j in range(i + 1, n)]
        add(base, "constants", [], want, model)
    return cases


def _case_source(case: dict) -> str:
    """The body of one case: read its operands, print its results."""
    call, kind = case["call"], case["kind"]
    if kind[0] == "u":
        return f"for (unsigned i = 0; i < n; i++) put(u64({call}(exact_uint<{kind[1:]}>::type(get_u()))));"
    if kind[0] == "s":
        return f"for (unsigned i = 0; i < n; i++) put(u64({call}(exact_int<{kind[1:]}>::type(get_s()))));"
    if kind in ("res2", "res3"):
        rows = int(kind[-1])
        r = f"modulus<{call[call.index('<') + 1:call.index('>')]}>::residue_t"
        args = ", ".join(f"{r}(v[{j} * n + i])" for j in range(rows))
        return (f"static ull v[{rows * len(case['inputs'][0])}]; read_rows(v, {rows}, n);\n"
                f"    for (unsigned i = 0; i < n; i++) put(u64({call}({args})));")
    if kind == "reverse":
        base = call[call.index("<") + 1:call.rindex(">")]
        return (f"typedef {base} B; static ull v[B::n_mod * {len(case['inputs'][0])}]; read_rows(v, B::n_mod, n);\n"
                f"    for (unsigned i = 0; i < n; i++) {{\n        B::residue_t y[B::n_mod];\n"
                f"        for (unsigned j = 0; j < B::n_mod; j++) y[j] = B::residue_t(v[j * n + i]);\n"
                f"        put_s(s64({call}(y)));\n    }}")
    if kind == "forward":
        base = call[call.index("<") + 1:call.rindex(",")]
        return (f"typedef {base} B;\n    for (unsigned i = 0; i < n; i++) {{\n        B::residue_t y[B::n_mod];\n"
                f"        {call}(exact_int<{FORWARD_WIDTH}>::type(get_s()), y);\n"
                f"        for (unsigned j = 0; j < B::n_mod; j++) put(u64(y[j]));\n    }}")
    if kind == "channels":
        base, xmax = call[call.index("<") + 1:call.rindex(",")], call[call.rindex(",") + 1:-1]
        return (f"typedef {base} B; typedef uint_upto<{xmax}>::type S;\n"
                f"    static ull v[B::n_mod * {len(case['inputs'][0])}]; read_rows(v, B::n_mod, n);\n"
                f"    for (unsigned i = 0; i < n; i++) {{\n        S sums[B::n_mod];\n"
                f"        B::residue_t y[B::n_mod];\n"
                f"        for (unsigned j = 0; j < B::n_mod; j++) sums[j] = S(v[j * n + i]);\n"
                f"        {call}(sums, y);\n"
                f"        for (unsigned j = 0; j < B::n_mod; j++) put(u64(y[j]));\n    }}")
    if kind == "modulus":
        return (f"typedef {call} T;\n    (void)n;\n    put(ull(T::kind));\n    put(ull(T::width));\n"
                f"    put(ull(T::n));\n    put(ull(T::mu));")
    assert kind == "constants", kind
    n = call.count(",") + 1
    parts = ["put(ull(B::dynamic_range));", "put(ull(B::half_range));"]
    parts += [f"put(ull(B::at<{j}>::weight));" for j in range(n)]
    parts += [f"put(ull(B::at<{j}>::inverse));" for j in range(n)]
    parts += [f"put(ull(B::mrc_inverse<{i}, {j}>::value));" for i in range(n) for j in range(i + 1, n)]
    return f"typedef {call} B;\n    (void)n;\n    " + "\n    ".join(parts)


HARNESS_PRELUDE = r"""
#include <cstdio>
#include <cstdlib>
#include <type_traits>
#include "nnet_utils/nnet_rns.h"
using namespace nnet::arith;
typedef unsigned long long ull;

// The build this is: ap types on the hardware path, native integers on the C-sim fast path.
#ifdef ARITH4ML_HW_PATH
static_assert(std::is_same<modulus<257>::residue_t, ap_uint<9> >::value, "hardware path: ap types");
static const char *PATH = "hw";
#else
static_assert(std::is_same<modulus<257>::residue_t, unsigned>::value, "fast path: native integers");
static const char *PATH = "native";
#endif

template <class T> ull u64(const T &x) { return (ull)x; }
template <int W> ull u64(const ap_uint<W> &x) { return x.to_uint64(); }
template <class T> long long s64(const T &x) { return (long long)x; }
template <int W> long long s64(const ap_int<W> &x) { return x.to_int64(); }
static ull get_u() { ull v; if (std::scanf("%llu", &v) != 1) std::exit(3); return v; }
static long long get_s() { long long v; if (std::scanf("%lld", &v) != 1) std::exit(3); return v; }
static void read_rows(ull *rows, unsigned n_rows, unsigned n) {  // operand j of item i at rows[j * n + i]
    for (unsigned j = 0; j < n_rows; j++) for (unsigned i = 0; i < n; i++) rows[j * n + i] = get_u();
}
static void put(ull v) { std::printf(" %llu", v); }
static void put_s(long long v) { std::printf(" %lld", v); }
"""


def _harness_source(cases: list[dict]) -> str:
    funcs = []
    for case in cases:
        funcs.append(f"static void case_{case['id']}(unsigned n) {{\n    {_case_source(case)}\n}}")
    switch = "\n".join(f"        case {c['id']}: case_{c['id']}(n); break;" for c in cases)
    main = f"""
int main() {{
    std::printf("path %s\\n", PATH);
    unsigned id, n;
    while (std::scanf("%u %u", &id, &n) == 2) {{
        std::printf("%u", id);
        switch (id) {{
{switch}
        default: return 2;
        }}
        std::printf("\\n");
    }}
    return 0;
}}
"""
    return HARNESS_PRELUDE + "\n".join(funcs) + main


def _harness_input(cases: list[dict]) -> str:
    lines = []
    for case in cases:
        n = len(case["inputs"][0]) if case["inputs"] else 0
        values = [int(v) for operand in case["inputs"] for v in operand]
        lines.append(" ".join(map(str, [case["id"], n, *values])))
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    """The cases, and the outputs of the harness built on each path: {"native": {id: [...]}, "hw": {...}}."""
    if shutil.which("g++") is None:
        pytest.skip("g++ not on PATH")
    cases = _harness_cases()
    workdir = tmp_path_factory.mktemp("rns_hw")
    cpp = workdir / "rns_hw.cpp"
    cpp.write_text(_harness_source(cases))
    flags = {"native": [], "hw": ["-DARITH4ML_SYNTHESIS_PATH"]}
    builds = {path: subprocess.Popen(["g++", "-std=c++11", "-O1", *extra, f"-I{ap_types_dir()}",
                                      f"-I{templates_dir()}", str(cpp), "-o", str(workdir / path)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for path, extra in flags.items()}
    outputs: dict[str, dict[int, list[int]]] = {}
    stdin = _harness_input(cases)
    for path, proc in builds.items():
        _, err = proc.communicate()
        assert proc.returncode == 0, f"{path} build failed:\n{err[-4000:]}"
        run = subprocess.run([str(workdir / path)], input=stdin, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, f"{path} harness exited {run.returncode}: {run.stdout[-500:]}"
        lines = run.stdout.splitlines()
        assert lines[0] == f"path {path}"
        outputs[path] = {int(line.split()[0]): [int(v) for v in line.split()[1:]] for line in lines[1:]}
    return cases, outputs


def _mismatches(cases: list[dict], got: dict[int, list[int]], kinds: tuple[str, ...]) -> list[str]:
    bad = []
    for case in cases:
        if not case["kind"].startswith(kinds):
            continue
        out = got.get(case["id"])
        if out != case["want"]:
            first = next((i for i, (g, w) in enumerate(zip(out or [], case["want"])) if g != w), None)
            where = f"item {first}: got {out[first]}, want {case['want'][first]}" if first is not None else \
                f"{len(out or [])} results for {len(case['want'])}"
            bad.append(f"{case['call']}: {where}")
    return bad


OPS = {"reduce": ("u", "channels", "modulus"), "modular": ("res",), "forward": ("s", "forward"),
       "reverse": ("reverse", "constants")}


def test_model_matches_the_oracle_on_the_harness_cases(harness):
    cases, _ = harness
    assert len(cases) > 400
    bad = [case["call"] for case in cases if case["model"] != case["want"]]
    assert bad == []


@pytest.mark.parametrize("path", ["native", "hw"])
@pytest.mark.parametrize("op", list(OPS))
def test_cpp_matches_oracle_and_model(harness, path, op):
    cases, outputs = harness
    bad = _mismatches(cases, outputs[path], OPS[op])
    assert bad == [], "\n".join(bad[:20])
    assert sum(case["kind"].startswith(OPS[op]) for case in cases) >= 9
