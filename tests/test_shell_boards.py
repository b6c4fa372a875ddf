"""Every board of the catalogue gets a board shell whose Tcl scripts run under the dry-run harness and ask Vivado
for that board's part (and board part, for the Zynq block designs); Artix shells constrain that board's pins."""
from __future__ import annotations

import shutil

import pytest

from tests import zoo
from toolchain import project
from toolchain.boards import known_boards, load_board

pytestmark = pytest.mark.skipif(shutil.which("tclsh") is None, reason="tclsh is not installed (Debian package 'tcl')")


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """One project (zoo MLP, Bitshift, not compiled) and its hls model, shared by every board."""
    out = tmp_path_factory.mktemp("shells") / "prj"
    hm, _ = project.convert(zoo.mlp(3), "bitshift", out, zoo.PART, compile=False)
    return out, hm


@pytest.mark.parametrize("name", known_boards())
def test_every_board_shell_passes_the_dry_run(converted, name, tmp_path):
    from toolchain.shell import dryrun, write_shell

    prj, hm = converted
    board = load_board(name)
    shell = write_shell(prj, board, hm=hm)
    calls = dryrun.check_shell(shell, tmp_path / "work")
    hls_calls, vivado_calls = calls[shell.hls_script.name], calls[shell.vivado_script.name]
    assert ["set_part", board.part] in [c[:2] for c in hls_calls]
    assert any(c[0] == "export_design" for c in hls_calls)
    names = [c[0] for c in vivado_calls]
    if board.family == "artix7":
        synth = next(c for c in vivado_calls if c[0] == "synth_design")
        assert synth[synth.index("-part") + 1] == board.part and "write_bitstream" in names
        xdc = (shell.directory / "arith4ml_top.xdc").read_text()
        for pin in (board.pins.clock, board.pins.reset, board.pins.uart_rx, board.pins.uart_tx):
            assert f"PACKAGE_PIN {pin.pin}" in xdc, pin
    else:
        create = next(c for c in vivado_calls if c[0] == "create_project")
        assert create[create.index("-part") + 1] == board.part
        assert any(c[:3] == ["set_property", "board_part", board.board_part] for c in vivado_calls)
        run = next(c for c in vivado_calls if c[0] == "launch_runs")
        assert run[run.index("-to_step") + 1] == "write_bitstream"
