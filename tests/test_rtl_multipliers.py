"""Generated Verilog multipliers: exhaustive Icarus simulation against toolchain.arith.approx, yosys 7-series counts."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from tests.rtl_tools import needs_iverilog, needs_verilator, needs_yosys
from toolchain.arith.approx import roup
from toolchain.errors import ArithValueError, ToolMissingError
from toolchain.rtl import cost, exact_multiplier, parse_stat, roup_multiplier, simulate

pytestmark = pytest.mark.xdist_group("rtl")


# every signed 8-bit pair, once
_G = np.arange(-128, 128, dtype=np.int64)
A, B = (x.reshape(-1) for x in np.meshgrid(_G, _G, indexing="ij"))


@needs_iverilog
def test_exact_multiplier_exhaustive() -> None:
    assert np.array_equal(simulate(exact_multiplier(), A, B), A * B)


@needs_iverilog
@pytest.mark.parametrize("k, m", [(0, 0), (1, 2), (2, 3), (3, 7), (0, 7), (3, 0)])
def test_roup_multiplier_exhaustive(k: int, m: int) -> None:
    p = simulate(roup_multiplier(k, m), A, B)
    ref = roup(A, B, k, m)
    bad = np.flatnonzero(p != ref)
    assert bad.size == 0, f"ROUP({k},{m}) differs at a={A[bad[0]]}, b={B[bad[0]]}: {p[bad[0]]} != {ref[bad[0]]}"
    if (k, m) == (0, 0):
        assert np.array_equal(p, A * B)  # the unperforated, unrounded Booth multiplier is exact


@needs_iverilog
def test_simulate_keeps_shape() -> None:
    a = np.array([[1, -128], [127, -1]])
    assert np.array_equal(simulate(exact_multiplier(), a, 3), a * 3)
    with pytest.raises(ArithValueError, match="outside -128..127"):
        simulate(exact_multiplier(), [200], [1])


@needs_yosys
def test_roup_uses_fewer_luts_than_exact() -> None:
    exact = cost(exact_multiplier(), dsp=False)
    approx = cost(roup_multiplier(2, 3), dsp=False)
    print(f"\nyosys xc7 -nodsp: exact {exact.as_dict()}  ROUP(2,3) {approx.as_dict()}")
    assert approx.lut < exact.lut
    assert exact.dsp == approx.dsp == 0 and exact.ff == approx.ff == 0  # combinational, LUT-mapped


@pytest.mark.parametrize("kwargs, match", [
    ({"k": 4, "m": 0}, r"k=4 out of range.*0\.\.3"),
    ({"k": -1, "m": 0}, r"k=-1 out of range"),
    ({"k": 0, "m": 8}, r"m=8 out of range.*0\.\.7"),
    ({"k": 1.0, "m": 0}, r"k=1\.0"),
    ({"k": True, "m": 0}, r"k=True"),
    ({"k": 0, "m": 0, "bits": 16}, r"bits=16 is not supported; valid: 8"),
])
def test_bad_parameters_raise(kwargs: dict, match: str) -> None:
    with pytest.raises(ArithValueError, match=match):
        roup_multiplier(**kwargs)


def test_bad_bits_and_names_raise() -> None:
    with pytest.raises(ArithValueError, match="bits=7"):
        exact_multiplier(bits=7)
    with pytest.raises(ArithValueError, match="not a Verilog identifier"):
        exact_multiplier(name="bad name")


def test_missing_tools_name_the_executable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda exe, *a, **k: None)
    with pytest.raises(ToolMissingError, match=r"iverilog is not on PATH.*make tools") as err:
        simulate(exact_multiplier(), [1], [1])
    assert err.value.exit_code == 3
    with pytest.raises(ToolMissingError, match=r"yosys is not on PATH.*make tools"):
        cost(exact_multiplier())


def test_parse_stat_both_yosys_layouts() -> None:
    old = ("   Number of cells:                254\n     CARRY4                          4\n"
           "     IBUF                           16\n     LUT2                            6\n"
           "     LUT6                           99\n     FDRE                            3\n"
           "     DSP48E1                         1\n     RAMB18E1                        2\n")
    new = ("      254 cells\n        4   CARRY4\n       16   IBUF\n        6   LUT2\n       99   LUT6\n"
           "        3   FDRE\n        1   DSP48E1\n        2   RAMB18E1\n")
    for text in (old, new):
        c = parse_stat(text)
        assert c.as_dict() == {"lut": 105, "carry4": 4, "ff": 3, "dsp": 1, "bram": 2}


def test_generated_text_is_parameterised() -> None:
    text = roup_multiplier(2, 3).verilog
    assert "module mult_roup_k2_m3" in text and "parameter K = 2" in text and "parameter M = 3" in text
    assert "{{" not in text.replace("{{(", "")  # every placeholder filled



@needs_verilator
@pytest.mark.parametrize("k, m", [(None, None), (0, 0), (1, 2), (3, 7), (0, 7), (3, 0)])
def test_multipliers_are_lint_clean(k: int | None, m: int | None) -> None:
    from toolchain.rtl.lint import lint

    unit = exact_multiplier() if k is None else roup_multiplier(k, m)
    assert lint(unit) == []


@needs_yosys
def test_cost_counts_every_submodule() -> None:
    """A unit whose top instantiates two multipliers costs about two multipliers (not the first module's cells)."""
    from toolchain.rtl import Port, RtlUnit

    single = exact_multiplier()
    top = ("module two_mults (input wire signed [7:0] a, input wire signed [7:0] b, output wire signed [16:0] p);\n"
           "    wire signed [15:0] ab, aa;\n"
           "    mult_exact_8 m_ab (.a(a), .b(b), .p(ab));\n"
           "    mult_exact_8 m_aa (.a(a), .b(a), .p(aa));\n"
           "    assign p = ab + aa;\n"
           "endmodule\n")
    pair = RtlUnit("two_mults", single.verilog + top, (Port("a", "input", 8), Port("b", "input", 8),
                                                        Port("p", "output", 17)))
    one, two = cost(single, dsp=False).lut, cost(pair, dsp=False).lut
    assert two > 1.5 * one, (one, two)


def test_packed_hex_splits_long_tables_in_order() -> None:
    """A table longer than one literal Icarus accepts is a concatenation {hi, ..., lo} that reads back as the values."""
    import re

    from toolchain.rtl.verilog import LITERAL_CHUNK_BITS, packed_hex

    values = [(-1) ** i * (i % 100000) for i in range(2 * LITERAL_CHUNK_BITS // 32 + 5)]
    text = packed_hex(values, 32)
    literals = re.findall(r"(\d+)'h([0-9a-f]+)", text)
    assert text.startswith("{") and len(literals) == 3
    word = 0
    for bits, digits in literals:  # highest first, as Verilog concatenates
        word = (word << int(bits)) | int(digits, 16)
    back = [(word >> (32 * i)) & 0xFFFFFFFF for i in range(len(values))]
    assert [v - (1 << 32) if v >> 31 else v for v in back] == values
    assert packed_hex([3, 5], 4) == "8'h53"
    with pytest.raises(ArithValueError, match="unsigned 4-bit"):
        packed_hex([-1], 4, unsigned=True)
