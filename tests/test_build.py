"""``arith4ml build``: input checks, tool discovery, the steps and their arguments, failures, and the report summary.

No vendor tool is installed here.  The executables named ``vitis-run``, ``vitis_hls``, ``vivado_hls`` and ``vivado``
that these tests put on PATH (or under ``$XILINX_*/bin``) are small bash scripts written by :func:`fake_tools`: they
**stand in for the vendor tools only to test arith4ml's orchestration** (which tool is chosen, how it is called, in
which directory, with which options, what happens when it fails, where the reports are looked for).  Each records
its argv and cwd, runs the Tcl script it was given under plain ``tclsh`` with the recording stubs of
``templates/shell/dryrun_stubs.tcl`` (so hls4ml's real ``build_prj.tcl`` decides which vendor commands it would
call), and
writes the report files a real run writes, copied from the hand-written samples in ``tests/data/vendor_reports/``
(samples in the documented layouts, not vendor output).  Nothing here shows that Vivado or Vitis HLS accept the
scripts: that needs the tools.
"""
from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from tests import zoo
from toolchain import build, build_reports, build_tools, cli, project
from toolchain.shell import ShellProject
from toolchain.shell.dryrun import stubs

SAMPLES = Path(__file__).resolve().parent / "data" / "vendor_reports"
STUBS = stubs()
SYSTEM_PATH = "/usr/bin:/bin"  # bash, tclsh, awk, cp for the fakes; no vendor tool lives there
needs_tclsh = pytest.mark.skipif(shutil.which("tclsh") is None, reason="tclsh is not installed (Debian package 'tcl')")

# A stand-in for a vendor tool (see the module docstring): version banner, argv/cwd record, the script under
# tclsh with recording stubs, then the files a real run would write.  FAKE_FAIL=CMD fails after the script
# called vendor command CMD, printing vendor-style ERROR lines.
FAKE = r"""#!/bin/bash
# Stand-in for a vendor tool in tests/test_build.py only (records its calls; not vendor behaviour).
name=${0##*/}
v=FAKE_VERSION_${name//-/_}
case "$1" in -version|--version) echo "****** $name v${!v:-${FAKE_VERSION:-2023.2}} (64-bit)"; exit 0;; esac
{ printf '%s' "$name"; printf '\t%s' "$PWD" "$@"; echo; } >> "$FAKE_DIR/record.tsv"
script=""; args=()
while [ $# -gt 0 ]; do
  case "$1" in
    -f|--tcl|-source) script=$2; shift 2;;
    --mode|-mode) shift 2;;
    -tclargs) shift; args+=("$@"); break;;
    -*) shift;;
    *) args+=("$1"); shift;;
  esac
done
echo "INFO: [fake] $name runs $script"
if [[ " ${args[*]} " == *"cosim=1"* ]]; then  # what cosim_design -setup leaves for build_prj.tcl to read
  mkdir -p myproject_prj/solution1/sim/verilog myproject_prj/solution1/sim/report tb_data
  : > myproject_prj/solution1/sim/verilog/myproject.tcl; : > myproject_prj/solution1/sim/verilog/run_sim.tcl
  echo "fake cosim report" > myproject_prj/solution1/sim/report/myproject_cosim.rpt
  echo "0 1" > tb_data/csim_results.log; echo "0 1" > tb_data/rtl_cosim_results.log
fi
calls=$FAKE_DIR/calls.tcl; rm -f "$calls"
{ echo "source {$FAKE_STUBS}"; printf 'set argv [list'; for a in "${args[@]}"; do printf ' {%s}' "$a"; done
  echo ']'; echo "set argc ${#args[@]}"; echo "source {$script}"; } > "$FAKE_DIR/main.tcl"
ARITH4ML_DRYRUN_LOG=$calls tclsh "$FAKE_DIR/main.tcl" || { echo "ERROR: [fake] $script failed under tclsh"; exit 1; }
touch "$calls"; { echo "# $name"; cat "$calls"; } >> "$FAKE_DIR/calls.log"
if [ -n "$FAKE_FAIL" ] && grep -q "^$FAKE_FAIL" "$calls"; then
  echo "ERROR: [HLS 200-70] Compilation errors found: In file included from firmware/myproject.cpp:1:"
  echo "Pre-synthesis failed."; exit 1
fi
prj=$(awk '$1=="open_project"{print $NF}' "$calls" | tail -1); top=$(awk '$1=="set_top"{print $NF}' "$calls" | tail -1)
if grep -q '^csynth_design' "$calls"; then
  report=$prj/solution1/syn/report; mkdir -p "$report"; cp "$FAKE_SAMPLES/csynth_vitis.xml" "$report/${top}_csynth.xml"
fi
if grep -q '^export_design' "$calls"; then
  mkdir -p "$prj/solution1/impl/ip"; echo '<c/>' > "$prj/solution1/impl/ip/component.xml"
fi
for f in $(awk '$1=="write_bitstream"{print $NF}' "$calls"); do mkdir -p "$(dirname "$f")"; echo fake > "$f"; done
for f in $(awk '$1=="report_utilization"{for(i=1;i<NF;i++) if($i=="-file") print $(i+1)}' "$calls"); do
  cp "$FAKE_SAMPLES/utilization_routed.rpt" "$f"; done
for f in $(awk '$1=="report_timing_summary"{for(i=1;i<NF;i++) if($i=="-file") print $(i+1)}' "$calls"); do
  cp "$FAKE_SAMPLES/timing_summary_met.rpt" "$f"; done
echo "INFO: [fake] $name done"
"""


def fake_tools(directory: Path, names: list[str]) -> Path:
    """Write the stand-in executables ``names`` into ``directory`` (see the module docstring); returns it."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        exe = directory / name
        exe.write_text(FAKE)
        exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return directory


def calls(fake_dir: Path) -> list[list[str]]:
    """Each recorded invocation: [tool, cwd, arg, ...]."""
    path = fake_dir / "record.tsv"
    return [line.split("\t") for line in path.read_text().splitlines()] if path.exists() else []


def vendor_commands(fake_dir: Path) -> list[str]:
    """The vendor Tcl commands the scripts called (first word of each recorded stub call), in order."""
    path = fake_dir / "calls.log"
    return [line.split()[0] for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


@pytest.fixture
def tool_env(tmp_path, monkeypatch):
    """An environment with no vendor tool: PATH of system directories only, no XILINX_* variables; the fakes'
    variables set.  Returns the fakes' directory (not on PATH until a test puts it there)."""
    fake_dir = tmp_path / "fake"
    fake_dir.mkdir()
    for var in build_tools.XILINX_ENVS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PATH", SYSTEM_PATH)
    monkeypatch.setenv("FAKE_DIR", str(fake_dir))
    monkeypatch.setenv("FAKE_STUBS", str(STUBS))
    monkeypatch.setenv("FAKE_SAMPLES", str(SAMPLES))
    monkeypatch.delenv("FAKE_FAIL", raising=False)
    return fake_dir


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> Path:
    """One real project (zoo MLP, Bitshift backend, converted for pynq-z2, not compiled), copied by each test."""
    out = tmp_path_factory.mktemp("build") / "prj"
    project.convert(zoo.mlp(0), "bitshift", out, zoo.PART, compile=False, board="pynq-z2")
    return out


@pytest.fixture
def prj(converted, tmp_path) -> Path:
    """A fresh copy of the converted project for one test."""
    return Path(shutil.copytree(converted, tmp_path / "prj"))


def snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(directory)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in directory.rglob("*")}


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        rc = cli.main(["build", *map(str, argv)])
    except SystemExit as exc:  # argparse's own errors
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err


# ---- input checks (exit 2) and missing tools (exit 3) ------------------------------------------------------------


def test_missing_tools_exit_3_one_line_nothing_written(prj, tool_env, capsys):
    before = snapshot(prj)
    rc, out, err = run_cli(capsys, prj, "--csim", "--synth")
    assert rc == 3
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("arith4ml build: error: ")
    for word in ("vitis-run", "vitis_hls", "vivado_hls", "$XILINX_VIVADO/bin", "settings64.sh", "PATH"):
        assert word in lines[0]
    assert snapshot(prj) == before  # no log, no options file, no report


def test_missing_vivado_for_bitstream_named(prj, tool_env, monkeypatch, capsys):
    monkeypatch.setenv("PATH", f"{fake_tools(tool_env / 'bin', ['vitis_hls'])}:{SYSTEM_PATH}")
    before = snapshot(prj)
    rc, _, err = run_cli(capsys, prj, "--bitstream")
    assert rc == 3
    assert "'vivado' is not on PATH or in $XILINX_VIVADO/bin" in err and len(err.strip().splitlines()) == 1
    assert snapshot(prj) == before and calls(tool_env) == []  # the HLS tool was never started on the project


def test_not_a_project_exit_2(tmp_path, tool_env, capsys):
    rc, _, err = run_cli(capsys, tmp_path)
    assert rc == 2 and "is not an arith4ml project" in err and len(err.strip().splitlines()) == 1
    rc, _, err = run_cli(capsys, tmp_path / "missing")
    assert rc == 2 and "does not exist" in err


def test_bitstream_without_board_exit_2(prj, tool_env, capsys):
    meta = json.loads((prj / project.META).read_text())
    meta["board"] = None
    (prj / project.META).write_text(json.dumps(meta))
    for step in ("--bitstream", "--export"):
        rc, _, err = run_cli(capsys, prj, step)
        assert rc == 2 and f"{step} needs a board" in err and "--board NAME" in err
        assert len(err.strip().splitlines()) == 1


def test_board_of_another_part_exit_2(prj, tool_env, capsys):
    rc, _, err = run_cli(capsys, prj, "--export", "--board", "arty-a7-35t")
    assert rc == 2 and "xc7a35ticsg324-1L" in err and "xc7z020clg400-1" in err


def test_over_budget_bitstream_exit_2_unless_force(prj, tool_env, tmp_path, capsys):
    boards = tmp_path / "boards"
    boards.mkdir()
    text = (Path(project.__file__).resolve().parent.parent / "boards" / "pynq-z2.yaml").read_text()
    text = text.replace("name: pynq-z2", "name: tiny").replace("lut: 53200", "lut: 10")
    (boards / "tiny.yaml").write_text(text)
    before = snapshot(prj)
    rc, _, err = run_cli(capsys, prj, "--bitstream", "--board", "tiny", "--boards-dir", boards)
    assert rc == 2 and "LUT" in err and "tiny" in err and "--force" in err
    assert len(err.strip().splitlines()) == 1 and snapshot(prj) == before
    # --force goes on to the tools (none here: exit 3, still nothing written)
    rc, _, err = run_cli(capsys, prj, "--bitstream", "--board", "tiny", "--boards-dir", boards, "--force")
    assert rc == 3 and snapshot(prj) == before


def test_bad_jobs_exit_2(prj, tool_env, capsys):
    rc, _, err = run_cli(capsys, prj, "--jobs", "0")
    assert rc == 2 and "--jobs" in err


# ---- tool discovery ------------------------------------------------------------------------------------------------


def test_discovery_order_and_xilinx_dirs(tool_env, tmp_path):
    on_path = fake_tools(tmp_path / "path", ["vitis_hls", "vivado_hls", "vivado"])
    vitis = fake_tools(tmp_path / "Vitis" / "2024.1" / "bin", ["vitis-run"])
    env = {"PATH": f"{on_path}:{SYSTEM_PATH}", "XILINX_VITIS": str(vitis.parent)}
    tools = build_tools.find_tools({"synth", "bitstream"}, env)
    assert tools.hls.name == "vitis-run" and tools.hls.path == vitis / "vitis-run"  # newest command line first
    assert tools.vivado.path == on_path / "vivado" and tools.hls.version == (2023, 2)  # the version it printed
    assert build_tools.find_tools({"synth"}, {"PATH": f"{on_path}:{SYSTEM_PATH}"}).hls.name == "vitis_hls"
    assert build_tools.find_tools({"synth"}, {"PATH": f"{on_path}:{SYSTEM_PATH}"}).vivado is None
    old = fake_tools(tmp_path / "Vivado" / "2020.1" / "bin", ["vivado_hls", "vivado"])
    only_env = {"PATH": SYSTEM_PATH, "XILINX_VIVADO": str(old.parent)}
    tools = build_tools.find_tools({"bitstream"}, only_env)
    assert (tools.hls.name, tools.hls.path, tools.vivado.path) == ("vivado_hls", old / "vivado_hls", old / "vivado")
    hls = fake_tools(tmp_path / "Vitis_HLS" / "2023.1" / "bin", ["vitis_hls"])
    hls_only = {"PATH": SYSTEM_PATH, "XILINX_HLS": str(hls.parent)}
    assert build_tools.find_tools({"csim"}, hls_only).hls.path == hls / "vitis_hls"


def test_unsupported_versions(tool_env, tmp_path, monkeypatch):
    d = fake_tools(tmp_path / "bin", ["vivado_hls"])
    monkeypatch.setenv("FAKE_VERSION", "2018.3")
    with pytest.raises(build_tools.ToolMissingError, match=r"vivado_hls 2018\.3 .* older than 2019\.1"):
        build_tools.find_tools({"synth"}, {"PATH": str(d)})
    # a vitis-run too old for --tcl gives way to a vitis_hls of a supported release
    fake_tools(d, ["vitis-run", "vitis_hls"])
    monkeypatch.setenv("FAKE_VERSION_vitis_run", "2023.1")
    monkeypatch.setenv("FAKE_VERSION_vitis_hls", "2023.1")
    assert build_tools.find_tools({"synth"}, {"PATH": str(d)}).hls.name == "vitis_hls"
    assert build_tools.parse_version("/tools/Xilinx/Vivado/2019.2/bin/vivado") == (2019, 2)
    assert build_tools.parse_version("Vivado v2022.2 (64-bit)") == (2022, 2)


def test_cli_unsupported_version_exit_3(prj, tool_env, monkeypatch, capsys):
    monkeypatch.setenv("PATH", f"{fake_tools(tool_env / 'bin', ['vivado_hls'])}:{SYSTEM_PATH}")
    monkeypatch.setenv("FAKE_VERSION", "2018.2")
    rc, _, err = run_cli(capsys, prj)
    assert rc == 3 and "vivado_hls 2018.2" in err


# ---- the steps through the project's build_prj.tcl -----------------------------------------------------------------


@needs_tclsh
def test_vitis_run_options_file_and_steps(prj, tool_env, monkeypatch, capsys):
    monkeypatch.setenv("PATH", f"{fake_tools(tool_env / 'bin', ['vitis-run', 'vitis_hls'])}:{SYSTEM_PATH}")
    rc, out, err = run_cli(capsys, prj, "--csim")
    assert rc == 0, err
    (tool, cwd, *argv), = calls(tool_env)
    assert (tool, Path(cwd)) == ("vitis-run", prj)
    assert argv == ["--mode", "hls", "--tcl", str(prj / build.WRAPPER)]  # vitis-run passes the script nothing
    assert "csim_design" in vendor_commands(tool_env) and "csynth_design" not in vendor_commands(tool_env)
    opts = (prj / build.BUILD_OPT).read_text()
    assert "csim       1" in opts and "synth      0" in opts and "cosim      0" in opts
    assert "reset=0 csim=1 synth=0" in (prj / build.WRAPPER).read_text()
    assert (prj / "logs" / "csim.log").read_text().count("INFO: [fake] vitis-run") == 2
    summary = json.loads((prj / "reports" / "summary.json").read_text())
    assert summary["steps"] == ["csim"] and summary["hls"] is None and summary["tools"]["hls"]["name"] == "vitis-run"
    # the default step is synth: csynth.xml read into the summary
    rc, out, err = run_cli(capsys, prj)
    assert rc == 0, err
    assert vendor_commands(tool_env).count("csynth_design") == 1
    assert "synth      1" in (prj / build.BUILD_OPT).read_text()
    summary = json.loads((prj / "reports" / "summary.json").read_text())
    assert summary["hls"]["resources"]["LUT"] == 5926 and summary["hls"]["latency_worst_cycles"] == 17
    assert summary["logs"] == {"synth": str(prj / "logs" / "synth.log")}
    assert "latency 12..17 cycles" in out and "5926" in out and "summary.json" in out


@needs_tclsh
def test_vitis_hls_step_sequence_and_arguments(prj, tool_env, monkeypatch, capsys):
    monkeypatch.setenv("PATH", f"{fake_tools(tool_env / 'bin', ['vitis_hls', 'vivado_hls'])}:{SYSTEM_PATH}")
    rc, out, err = run_cli(capsys, prj, "--cosim", "--csim")
    assert rc == 0, err
    recorded = calls(tool_env)
    assert [c[0] for c in recorded] == ["vitis_hls"] * 3 and {Path(c[1]) for c in recorded} == {prj}
    assert [c[2:] for c in recorded] == [
        ["-f", "build_prj.tcl", "reset=0 csim=1 synth=0 cosim=0 validation=0 export=0 vsynth=0 fifo_opt=0"],
        ["-f", "build_prj.tcl", "reset=0 csim=0 synth=1 cosim=0 validation=0 export=0 vsynth=0 fifo_opt=0"],
        ["-f", "build_prj.tcl", "reset=0 csim=0 synth=0 cosim=1 validation=1 export=0 vsynth=0 fifo_opt=0"]]
    cmds = vendor_commands(tool_env)
    assert cmds.count("csim_design") == cmds.count("csynth_design") == cmds.count("cosim_design") == 1
    assert cmds.index("csim_design") < cmds.index("csynth_design") < cmds.index("cosim_design")
    assert sorted(p.name for p in (prj / "logs").iterdir()) == ["cosim.log", "csim.log", "synth.log"]
    assert not (prj / build.BUILD_OPT).exists()  # only vitis-run needs the options file
    summary = json.loads((prj / "reports" / "summary.json").read_text())
    assert summary["steps"] == ["csim", "synth", "cosim"] and summary["hls"]["estimated_clock_ns"] == 7.264
    assert "[csim" in err and "[cosim" in err and "done" in err  # plain progress lines when stderr is not a TTY


@needs_tclsh
def test_failing_tool_exit_4_names_step_log_and_errors(prj, tool_env, monkeypatch, capsys):
    monkeypatch.setenv("PATH", f"{fake_tools(tool_env / 'bin', ['vivado_hls'])}:{SYSTEM_PATH}")
    monkeypatch.setenv("FAKE_VERSION", "2020.1")
    monkeypatch.setenv("FAKE_FAIL", "csynth_design")
    rc, _, err = run_cli(capsys, prj, "--csim", "--synth")
    assert rc == 4
    line = err.strip().splitlines()[-1]
    log = prj / "logs" / "synth.log"
    assert line.startswith("arith4ml build: error: step 'synth' failed") and str(log) in line
    assert "ERROR: [HLS 200-70] Compilation errors found" in line and "exited with status 1" in line
    assert "ERROR: [HLS 200-70]" in log.read_text() and (prj / "logs" / "csim.log").is_file()
    assert not (prj / "reports" / "summary.json").exists()


@needs_tclsh
def test_synth_without_report_exit_4(prj, tool_env, monkeypatch, capsys, tmp_path):
    """A tool that exits 0 without the report it should have written (as in hls4ml #933) is a failure."""
    bindir = fake_tools(tool_env / "bin", ["vitis_hls"])
    (bindir / "vitis_hls").write_text("#!/bin/bash\n# stand-in (tests only): prints an error, exits 0\n"
                                      "case \"$1\" in -version) echo 'vitis_hls v2023.2'; exit 0;; esac\n"
                                      "echo 'ERROR: [HLS 200-1715] design has no top'\n")
    monkeypatch.setenv("PATH", f"{bindir}:{SYSTEM_PATH}")
    rc, _, err = run_cli(capsys, prj, "--synth")
    assert rc == 4 and "without writing a csynth.xml" in err and "ERROR: [HLS 200-1715]" in err


# ---- the board shell: export and bitstream --------------------------------------------------------------------------

FAKE_VIVADO_SCRIPT = """# stand-in for the shell's Vivado script (tests only)
set jobs {JOBS}
create_project shell_prj ./vivado -part xc7z020clg400-1
launch_runs impl_1 -to_step write_bitstream -jobs $jobs
write_bitstream -force out/design.bit
report_utilization -file out/utilization.rpt
report_timing_summary -file out/timing.rpt
close [open out/design.hwh w]
"""


def fake_write_shell(project_dir, board, jobs: int = 4, steps: tuple[str, ...] = (), hm=None) -> ShellProject:
    """Stands in for toolchain.shell.write_shell: the real shell's HLS script and options file (toolchain.shell.hls,
    so the step names are checked against what the script takes), and a Vivado script of stub commands that writes
    the outputs where the ShellProject says (the real ones are the shell writers' to test)."""
    from toolchain.shell import hls, project_io

    assert hm is not None  # the model the budget check reopened is reused
    io = project_io(project_dir, hm)
    d = Path(project_dir) / "shell" / board.name
    hls.write_hls_ip(io, d, part=board.part, clock_period_ns=board.clock_period_ns, steps=steps, hm=hm)
    (d / "build_bitstream.tcl").write_text(FAKE_VIVADO_SCRIPT.replace("JOBS", str(jobs)))
    (d / "out").mkdir(exist_ok=True)
    outputs = {k: d / "out" / f for k, f in (("bit", "design.bit"), ("hwh", "design.hwh"),
                                              ("utilization", "utilization.rpt"), ("timing", "timing.rpt"))}
    return ShellProject(directory=d, board=board.name, family=board.family, io=io, hls_script=d / "hls_ip.tcl",
                        vivado_script=d / "build_bitstream.tcl", driver=d / "driver.py", outputs=outputs)


@needs_tclsh
def test_bitstream_through_shell(prj, tool_env, monkeypatch, capsys):
    import toolchain.shell

    monkeypatch.setattr(toolchain.shell, "write_shell", fake_write_shell)
    monkeypatch.setenv("PATH", f"{fake_tools(tool_env / 'bin', ['vitis-run', 'vivado'])}:{SYSTEM_PATH}")
    rc, out, err = run_cli(capsys, prj, "--bitstream", "--jobs", "3")
    assert rc == 0, err
    shell_dir = prj / "shell" / "pynq-z2"
    (hls, hls_cwd, *hls_argv), (viv, viv_cwd, *viv_argv) = calls(tool_env)
    assert (hls, Path(hls_cwd), hls_argv) == ("vitis-run", shell_dir,
                                              ["--mode", "hls", "--tcl", str(shell_dir / "hls_ip.tcl")])
    assert (viv, Path(viv_cwd)) == ("vivado", shell_dir)
    assert viv_argv == ["-mode", "batch", "-nojournal", "-nolog", "-source", str(shell_dir / "build_bitstream.tcl")]
    assert "set hls_steps [list csynth export]" in (shell_dir / "hls_options.tcl").read_text()
    cmds = vendor_commands(tool_env)
    assert "csim_design" not in cmds and "cosim_design" not in cmds
    assert cmds.index("csynth_design") < cmds.index("export_design") < cmds.index("launch_runs")
    assert ["launch_runs", "impl_1", "-to_step", "write_bitstream", "-jobs", "3"] in [
        line.split() for line in (tool_env / "calls.log").read_text().splitlines()]
    assert sorted(p.name for p in (prj / "logs").iterdir()) == ["bitstream.log", "synth+export.log"]
    summary = json.loads((prj / "reports" / "summary.json").read_text())
    assert summary["board"] == "pynq-z2" and summary["steps"] == ["synth", "export", "bitstream"]
    assert summary["hls"]["top"] == "myproject"  # read from the sample, found as myproject_axis_csynth.xml
    assert summary["hls"]["report"] == str(shell_dir / "hls_prj/solution1/syn/report/myproject_axis_csynth.xml")
    assert summary["utilization"]["lut"] == {"used": 7421, "available": 53200, "percent": 13.95}
    assert summary["timing"]["wns_ns"] == 1.234 and summary["timing"]["met"] is True
    assert summary["bit"] == str(shell_dir / "out" / "design.bit") and summary["hwh"].endswith("design.hwh")
    assert "WNS 1.234 ns" in out and "design.bit" in out


@needs_tclsh
def test_export_through_real_zynq_shell(prj, tool_env, monkeypatch, capsys):
    """--export with the shipped Zynq shell writer: its hls_ip.tcl runs (under the stubs) with the steps asked for."""
    pytest.importorskip("toolchain.shell.zynq", reason="the Zynq shell writer is not in this checkout")
    monkeypatch.setenv("PATH", f"{fake_tools(tool_env / 'bin', ['vitis_hls'])}:{SYSTEM_PATH}")
    rc, out, err = run_cli(capsys, prj, "--export", "--csim")
    assert rc == 0, err
    shell_dir = prj / "shell" / "pynq-z2"
    (tool, cwd, *argv), = calls(tool_env)
    assert (tool, Path(cwd), argv) == ("vitis_hls", shell_dir, ["-f", str(shell_dir / "hls_ip.tcl")])
    assert "set hls_steps [list csim csynth export]" in (shell_dir / "hls_options.tcl").read_text()
    cmds = vendor_commands(tool_env)
    assert cmds.index("csim_design") < cmds.index("csynth_design") < cmds.index("export_design")
    summary = json.loads((prj / "reports" / "summary.json").read_text())
    assert summary["steps"] == ["csim", "synth", "export"] and summary["bit"] is None
    assert summary["hls"]["report"] == str(shell_dir / "hls_prj/solution1/syn/report/myproject_axis_csynth.xml")
    assert summary["logs"] == {"csim+synth+export": str(prj / "logs" / "csim+synth+export.log")}


@needs_tclsh
def test_bitstream_not_written_exit_4(prj, tool_env, monkeypatch, capsys):
    import toolchain.shell

    def no_bit(project_dir, board, **options):
        shell = fake_write_shell(project_dir, board, **options)
        shell.vivado_script.write_text("puts {ERROR: [Vivado 12-13638] Failed runs(s) : 'impl_1'}\n")
        return shell

    monkeypatch.setattr(toolchain.shell, "write_shell", no_bit)
    monkeypatch.setenv("PATH", f"{fake_tools(tool_env / 'bin', ['vitis_hls', 'vivado'])}:{SYSTEM_PATH}")
    rc, _, err = run_cli(capsys, prj, "--bitstream")
    assert rc == 4 and "step 'bitstream'" in err and "without writing the bitstream" in err
    assert "Failed runs(s)" in err and str(prj / "logs" / "bitstream.log") in err


# ---- report parsers on the hand-written samples ---------------------------------------------------------------------


def test_parse_csynth_samples():
    """Hand-written samples in the csynth.xml layout hls4ml reads (not vendor output)."""
    vitis = build_reports.parse_csynth(SAMPLES / "csynth_vitis.xml")
    assert (vitis["latency_best_cycles"], vitis["latency_worst_cycles"]) == (12, 17)
    assert (vitis["interval_min_cycles"], vitis["interval_max_cycles"]) == (1, 4)
    assert vitis["resources"] == {"LUT": 5926, "FF": 3141, "DSP": 0, "BRAM_18K": 2, "URAM": 0}
    assert vitis["available"]["LUT"] == 53200 and vitis["estimated_clock_ns"] == 7.264
    vivado = build_reports.parse_csynth(SAMPLES / "csynth_vivado_hls.xml")  # DSP48E and a namespace
    assert vivado["resources"]["DSP"] == 3 and vivado["version"] == "2020.1" and vivado["target_clock_ns"] == 10.0


def test_parse_utilization_samples():
    """Hand-written samples in report_utilization's table layout (not vendor output)."""
    routed = build_reports.parse_utilization(SAMPLES / "utilization_routed.rpt")
    assert routed["device"] == "xc7z020clg400-1" and routed["design_state"] == "Routed"
    assert routed["ff"] == {"used": 9876, "available": 106400, "percent": 9.28}
    assert routed["bram36"]["used"] == 3.5 and routed["dsp"]["used"] == 4 and routed["uram"] is None
    synth = build_reports.parse_utilization(SAMPLES / "utilization_synth_ultrascale.rpt")
    assert synth["lut"]["used"] == 12034 and synth["ff"]["available"] == 460800  # CLB names, no Prohibited column
    assert synth["uram"] == {"used": 2, "available": 96, "percent": 2.08}


def test_parse_timing_samples():
    """Hand-written samples in report_timing_summary's Design Timing Summary layout (not vendor output)."""
    met = build_reports.parse_timing_summary(SAMPLES / "timing_summary_met.rpt")
    assert (met["wns_ns"], met["tns_ns"], met["whs_ns"], met["met"]) == (1.234, 0.0, 0.021, True)
    failed = build_reports.parse_timing_summary(SAMPLES / "timing_summary_failed.rpt")
    assert (failed["wns_ns"], failed["tns_ns"], failed["tns_failing_endpoints"]) == (-0.412, -12.875, 57)
    assert failed["met"] is False
    lines = build_reports.summary_lines({"timing": failed})
    assert lines == [f"Vivado timing: WNS -0.412 ns, TNS -12.875 ns, WHS 0.021 ns (NOT met; report "
                     f"{SAMPLES / 'timing_summary_failed.rpt'})"]


def test_error_lines():
    lines = ["INFO: ok", "ERROR: [HLS 200-70] one", "WARNING: w", "Error: two", "INFO: last"]
    assert build_tools.error_lines(lines) == ["ERROR: [HLS 200-70] one", "Error: two"]
    assert build_tools.error_lines(["INFO: a", "INFO: b", ""]) == ["INFO: b"]


def test_help_lists_build(capsys):
    with pytest.raises(SystemExit):
        cli.main(["build", "--help"])
    out = capsys.readouterr().out
    for flag in ("--csim", "--synth", "--cosim", "--export", "--bitstream", "--board", "--jobs", "--boards-dir"):
        assert flag in out
    assert os.environ.get("PATH")  # untouched by this test


def test_progress_line_in_place_on_a_terminal():
    import io

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    progress = build_tools.Progress("synth", stream)
    progress.update("INFO: [HLS 200-10] Analyzing design file 'firmware/myproject.cpp'")
    progress.update()  # a tick without a new line keeps the last one
    progress.done("done")
    text = stream.getvalue()
    assert text.count("\r[synth 0m00s] INFO: [HLS 200-10] Analyzing") == 2 and text.endswith("done\x1b[K\n")
    assert text.count("\n") == 1  # one line, redrawn in place


# ---- --dry-run: the shell's scripts under tclsh, no vendor tool --------------------------------------------------


@pytest.mark.skipif(shutil.which("tclsh") is None, reason="tclsh is not installed (Debian package 'tcl')")
def test_dry_run_needs_no_vendor_tool_and_checks_the_scripts(prj, tool_env, capsys):
    """With no vendor tool on PATH, --dry-run writes the pynq-z2 shell, runs its HLS script and block design under
    the recording stubs (in a temporary copy) and says what they would ask of Vivado and that nothing was built."""
    rc, out, err = run_cli(capsys, prj, "--dry-run")
    assert rc == 0, err
    assert (prj / "shell" / "pynq-z2" / "block_design.tcl").is_file()
    assert not (prj / "shell" / "pynq-z2" / "output").exists() and not (prj / "shell" / "pynq-z2" / "hls_prj").exists()
    assert "hls_ip.tcl: runs under tclsh (dry run)" in out and "csynth_design -> export_design" in out
    assert "block_design.tcl: runs under tclsh (dry run)" in out and "processing_system7_0" in out
    assert "launch_runs -to_step write_bitstream" in out and "part xc7z020clg400-1" in out
    assert f"no vendor tool was run; with Vivado installed: arith4ml build {prj} --board pynq-z2 --bitstream" in out


@pytest.mark.skipif(shutil.which("tclsh") is None, reason="tclsh is not installed (Debian package 'tcl')")
def test_dry_run_reports_a_broken_script(prj, tool_env, capsys, monkeypatch):
    """A generated script that fails under tclsh (here: an undefined variable) is exit 4 naming the script."""
    from toolchain.shell import zynq

    real = zynq.write

    def broken(*args, **kwargs):
        shell = real(*args, **kwargs)
        script = shell.vivado_script
        script.write_text(script.read_text().replace("create_project $proj_name", "create_project $no_such_name"))
        return shell

    monkeypatch.setattr(zynq, "write", broken)
    rc, out, err = run_cli(capsys, prj, "--dry-run")
    assert rc == 4 and "block_design.tcl" in err and "no_such_name" in err and len(err.strip().splitlines()) == 1
