"""The Zynq board shell (toolchain.shell.zynq, toolchain.shell.hls): generated Tcl under the dry-run harness, the
AXI4-Stream top's C-sim against the reference, and the PYNQ driver's packing against toolchain.arith.fixed."""
from __future__ import annotations

import importlib.util
import shutil

import numpy as np
import pytest

from tests import zoo
from tests.tcl_dryrun import run_dryrun, tclsh
from toolchain import project
from toolchain.arith import fixed
from toolchain.arith.fixed import OVERFLOW_MODES, ROUNDING_MODES, FixedType
from toolchain.boards import load_board
from toolchain.errors import ConfigError
from toolchain.shell import hls, write_shell, zynq

# board -> the io_type of the project its shell is written for (one of each family and io type)
CASES = {"pynq-z2": "io_parallel", "zcu104": "io_stream"}
needs_tclsh = pytest.mark.skipif(tclsh() is None, reason="tclsh is not installed (Debian package 'tcl')")
needs_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is not on PATH")


@pytest.fixture(scope="module")
def projects(tmp_path_factory):
    """io_type -> (hls model, project dir): one small MLP converted both ways (not compiled: C-sim uses g++ here)."""
    model = zoo.mlp(3, "bits", widths=(6, 7, 4))
    out = {}
    for io_type in set(CASES.values()):
        d = tmp_path_factory.mktemp(io_type) / "prj"
        hm, _ = project.convert(model, "bitshift", d, zoo.PART, io_type=io_type, compile=False)
        out[io_type] = (hm, d)
    return out


@pytest.fixture(scope="module")
def shells(projects):
    """board -> ShellProject."""
    return {b: write_shell(projects[io][1], load_board(b), jobs=3, hm=projects[io][0]) for b, io in CASES.items()}


def _index(calls, name, *words):
    """Index of the first recorded call ``name`` whose arguments contain every one of ``words``."""
    for i, c in enumerate(calls):
        if c[0] == name and all(any(w in a for a in c[1:]) for w in words):
            return i
    raise AssertionError(f"no call {name} with {words} in {[c[0] for c in calls]}")


def test_files(shells):
    for board, sp in shells.items():
        names = {p.relative_to(sp.directory).as_posix() for p in sp.files}
        top = f"{sp.io.name}_axis"
        assert names == {"hls_ip.tcl", "hls_options.tcl", f"src/{top}.h", f"src/{top}.cpp", f"src/{top}_tb.cpp",
                         "tb_data/axis_in.dat", "tb_data/axis_out.dat", "block_design.tcl", "pynq_driver.py",
                         "arith4ml_codes.py"}
        assert all(p.is_file() for p in sp.files) and sp.directory == sp.io.project_dir / "shell" / board
        assert sp.hls_script.name == "hls_ip.tcl" and sp.vivado_script.name == "block_design.tcl"
        assert sp.outputs["bit"].name == f"{top}.bit" and sp.outputs["hwh"].name == f"{top}.hwh"
        text = (sp.directory / f"src/{top}.cpp").read_text()
        assert "s_axilite port=return bundle=control" in text and "{{" not in text
        assert "ap_axiu<16, 0, 0, 0>" in (sp.directory / f"src/{top}.h").read_text()


@needs_tclsh
@pytest.mark.parametrize("board", sorted(CASES))
def test_hls_script_dryrun(shells, board):
    sp = shells[board]
    b = load_board(board)
    calls = run_dryrun(sp.hls_script, sp.directory)
    top = f"{sp.io.name}_axis"
    assert calls[0] == ["open_project", "-reset", "hls_prj"]
    assert ["set_top", top] in calls and ["set_part", b.part] in calls
    assert ["create_clock", "-period", f"{b.clock_period_ns:g}", "-name", "default"] in calls
    added = [c[-3] if c[-2] == "-cflags" else c[-1] for c in calls if c[0] == "add_files"]
    assert any(a.endswith(f"firmware/{sp.io.name}.cpp") for a in added) and f"src/{top}.cpp" in added
    order = [_index(calls, s) for s in ("open_solution", "csim_design", "csynth_design", "export_design")]
    assert order == sorted(order)
    assert _index(calls, "export_design", "ip_catalog") and not any(c[0] == "cosim_design" for c in calls)


@needs_tclsh
@pytest.mark.parametrize("board", sorted(CASES))
def test_block_design_dryrun(shells, board):
    sp = shells[board]
    b = load_board(board)
    d, top = sp.directory, f"{sp.io.name}_axis"
    # what Vivado would leave: the bitstream in the run directory (the stub's DIRECTORY is the cwd) and the
    # hardware handoff under .gen (Vivado 2020.2 on, zcu104 here) or .srcs (before, pynq-z2 here)
    (d / "design_1_wrapper.bit").write_text("bit")
    where = "gen" if board == "zcu104" else "srcs"
    hwh = d / f"vivado_prj/{top}_bd.{where}/sources_1/bd/design_1/hw_handoff/design_1.hwh"
    hwh.parent.mkdir(parents=True)
    hwh.write_text("hwh")
    calls = run_dryrun(sp.vivado_script, d)

    assert calls[_index(calls, "create_project")][-3:] == ["-part", b.part, "-force"]
    assert calls[_index(calls, "set_property", "board_part")][2] == b.board_part
    ps, rule = (("processing_system7", "processing_system7") if b.family == "zynq7000"
                else ("zynq_ultra_ps_e", "zynq_ultra_ps_e"))
    i_ps = _index(calls, "create_bd_cell", f"xilinx.com:ip:{ps}:")
    i_auto = _index(calls, "apply_bd_automation", f"xilinx.com:bd_rule:{rule}", 'apply_board_preset "1"')
    freq = (f"CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ {zynq.pl_clock_mhz(b.clock_period_ns)}"
            if b.family == "zynq7000" else
            f"CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ {zynq.pl_clock_mhz(b.clock_period_ns)}")
    hp = "CONFIG.PCW_USE_S_AXI_HP0 {1}" if b.family == "zynq7000" else "CONFIG.PSU__USE__S_AXI_GP2 {1}"
    i_freq = _index(calls, "set_property", freq, hp.replace("{1}", "1"))
    assert i_ps < i_auto < i_freq
    i_dma = _index(calls, "create_bd_cell", "xilinx.com:ip:axi_dma:")
    dma_cfg = calls[_index(calls, "set_property", "c_include_sg")][2]
    for setting in ("c_include_sg 0", "c_sg_length_width 26", "c_m_axis_mm2s_tdata_width 16",
                    "c_s_axis_s2mm_tdata_width 16"):
        assert setting in dma_cfg
    mem = "axi_interconnect" if b.family == "zynq7000" else "smartconnect"
    cells = {c[-1]: c[-2] for c in calls if c[0] == "create_bd_cell"}  # name -> VLNV
    assert cells["mem_interconnect"].startswith(f"xilinx.com:ip:{mem}:")
    assert cells["ctrl_interconnect"].startswith("xilinx.com:ip:axi_interconnect:")
    assert cells["rst_pl"].startswith("xilinx.com:ip:proc_sys_reset:")
    i_ip = _index(calls, "create_bd_cell", f":hls:{top}:")
    assert calls[i_ip][-1] == f"{top}_0" and i_freq < i_dma < i_ip
    nets = [c[1:] for c in calls if c[0] == "connect_bd_intf_net"]
    assert ["axi_dma_0/M_AXIS_MM2S", f"{top}_0/x_in"] in nets
    assert [f"{top}_0/y_out", "axi_dma_0/S_AXIS_S2MM"] in nets
    assert ["ctrl_interconnect/M01_AXI", f"{top}_0/s_axi_control"] in nets
    assert ["ctrl_interconnect/M00_AXI", "axi_dma_0/S_AXI_LITE"] in nets
    hp_port = "processing_system7_0/S_AXI_HP0" if b.family == "zynq7000" else "zynq_ultra_ps_e_0/S_AXI_HP0_FPD"
    assert ["mem_interconnect/M00_AXI", hp_port] in nets
    clk_net = calls[_index(calls, "connect_bd_net", "_0/ap_clk")]
    assert clk_net[1].endswith("FCLK_CLK0" if b.family == "zynq7000" else "pl_clk0")
    i_addr, i_val = _index(calls, "assign_bd_address"), _index(calls, "validate_bd_design")
    i_wrap = _index(calls, "make_wrapper", "-import")
    i_run = _index(calls, "launch_runs", "impl_1")
    assert calls[i_run][1:] == ["impl_1", "-to_step", "write_bitstream", "-jobs", "3"]
    i_wait = _index(calls, "wait_on_run", "impl_1")
    i_rep = [_index(calls, "report_utilization", "utilization.rpt"), _index(calls, "report_timing_summary")]
    assert i_ip < i_addr < i_val < i_wrap < i_run < i_wait < min(i_rep)
    assert sp.outputs["bit"].read_text() == "bit" and sp.outputs["hwh"].read_text() == "hwh"


@needs_gxx
@pytest.mark.parametrize("board", sorted(CASES))
def test_axis_top_csim_equals_reference(shells, projects, board):
    """The testbench streams the reference's test frames (one alone, the rest as one batch) through the top
    compiled with g++ and checks every output word and TLAST against the reference's codes."""
    sp = shells[board]
    hm = projects[CASES[board]][0]
    assert "PASS: 8 frames, 0 mismatches" in hls.csim_gxx(sp.directory, sp.io)
    codes_in = np.loadtxt(sp.directory / "tb_data/axis_in.dat", dtype=np.int64)
    codes_out = np.loadtxt(sp.directory / "tb_data/axis_out.dat", dtype=np.int64)
    x = fixed.to_float(codes_in, sp.io.input_type)
    from toolchain import reference

    np.testing.assert_array_equal(fixed.to_float(codes_out, sp.io.output_type), reference.predict(hm, x))


def _driver(sp):
    spec = importlib.util.spec_from_file_location(f"pynq_driver_{sp.board.replace('-', '_')}", sp.driver)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("board", sorted(CASES))
def test_driver_packs_as_the_reference(shells, board):
    sp = shells[board]
    drv = _driver(sp)
    rng = np.random.default_rng(1)
    t = sp.io.input_type
    x = rng.normal(0, 2 * max(abs(t.min_code), t.max_code) * t.lsb, (50, sp.io.n_in))  # many beyond the range
    x[0, :3] = [0.5 * t.lsb, -0.5 * t.lsb, 1.5 * t.lsb]  # ties
    words = drv.pack(x)
    assert words.dtype == np.dtype("int16") and words.shape == (50 * sp.io.n_in,)
    np.testing.assert_array_equal(words.astype(np.int64), fixed.quantize(x, t).reshape(-1))
    ot = sp.io.output_type
    codes = rng.integers(ot.min_code, ot.max_code + 1, (20, sp.io.n_out))
    np.testing.assert_array_equal(drv.unpack(codes.astype(drv.OUT_WORD).reshape(-1)), fixed.to_float(codes, ot))
    with pytest.raises(ImportError, match="PYNQ"):
        drv.NetworkOverlay()


def test_driver_quantize_every_mode(shells):
    """The driver's embedded quantizer equals toolchain.arith.fixed.quantize for every rounding and overflow mode,
    signed and unsigned, on ties and values far out of range."""
    drv = _driver(shells["pynq-z2"])
    rng = np.random.default_rng(2)
    for signed in (True, False):
        for rounding in ROUNDING_MODES:
            for overflow in OVERFLOW_MODES:
                t = FixedType(int(rng.integers(3, 20)), int(rng.integers(-2, 8)), signed, rounding, overflow)
                x = np.concatenate([rng.normal(0, 4 * 2.0 ** t.integer, 300),
                                    (rng.integers(-2 ** t.width, 2 ** t.width, 100) + 0.5) * t.lsb])
                got = drv.quantize(x, t.width, t.frac, t.signed, t.rounding, t.overflow)
                np.testing.assert_array_equal(got, fixed.quantize(x, t), err_msg=t.cpp())


def test_dma_widths_and_clock():
    assert [zynq.dma_width(b) for b in (1, 8, 9, 16, 24, 33, 62)] == [8, 8, 16, 16, 32, 64, 64]
    assert zynq.pl_clock_mhz(10) == "100" and zynq.pl_clock_mhz(7) == "142.857"


def test_rewrite_and_refusals(shells, projects, tmp_path):
    sp = shells["pynq-z2"]
    hm, d = projects["io_parallel"]
    (sp.directory / "design_1_wrapper.bit").unlink(missing_ok=True)  # the dry run's stand-in bitstream
    (sp.directory / "output").mkdir(exist_ok=True)
    (sp.directory / "output" / "x.bit").write_text("a build's output")
    again = zynq.write(d, load_board("pynq-z2"), hm=hm)  # only our files and a build's: replaced
    assert again.directory == sp.directory and not (sp.directory / "output").exists()
    (sp.directory / "mine.txt").write_text("the user's")
    with pytest.raises(ConfigError, match="mine.txt"):
        zynq.write(d, load_board("pynq-z2"), hm=hm)
    (sp.directory / "mine.txt").unlink()
    with pytest.raises(ConfigError, match="not a Zynq"):
        zynq.write(d, load_board("arty-a7-35t"), hm=hm)
    with pytest.raises(ConfigError, match="control"):
        hls.write_hls_ip(sp.io, tmp_path, control="axi_lite", hm=hm)
