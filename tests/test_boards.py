"""The board catalogue (``boards/*.yaml``), its schema checks and ``arith4ml boards``.

The expected facts are written out literally from ../shared/boards_facts.md (parts, Vivado board parts, Artix
master-XDC pins and reset polarities) and from the AMD data sheets (resource totals), never read back from the
YAML files under test.  Fast: no model, no tool.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from toolchain import boards, boards_cmd
from toolchain.cli import main

# name -> (family, part, board_part, design clock ns, interface): boards_facts.md section 1
FACTS = {
    "pynq-z1": ("zynq7000", "xc7z020clg400-1", "www.digilentinc.com:pynq-z1:part0:1.0", 10.0, "axi-stream-dma"),
    "pynq-z2": ("zynq7000", "xc7z020clg400-1", "tul.com.tw:pynq-z2:part0:1.0", 10.0, "axi-stream-dma"),
    "zedboard": ("zynq7000", "xc7z020clg484-1", "digilentinc.com:zedboard:part0:1.1", 10.0, "axi-stream-dma"),
    "zybo-z7-20": ("zynq7000", "xc7z020clg400-1", "digilentinc.com:zybo-z7-20:part0:1.2", 10.0, "axi-stream-dma"),
    "zcu102": ("zynqmp", "xczu9eg-ffvb1156-2-e", "xilinx.com:zcu102:part0:3.3", 10.0, "axi-stream-dma"),
    "zcu104": ("zynqmp", "xczu7ev-ffvc1156-2-e", "xilinx.com:zcu104:part0:1.1", 10.0, "axi-stream-dma"),
    "ultra96v2": ("zynqmp", "xczu3eg-sbva484-1-i", "avnet.com:ultra96v2:part0:1.2", 10.0, "axi-stream-dma"),
    "kv260": ("zynqmp", "xck26-sfvc784-2LV-c", "xilinx.com:kv260_som:part0:1.3", 10.0, "axi-stream-dma"),
    "arty-a7-35t": ("artix7", "xc7a35ticsg324-1L", "digilentinc.com:arty-a7-35:part0:1.1", 10.0, "uart"),
    "arty-a7-100t": ("artix7", "xc7a100tcsg324-1", "digilentinc.com:arty-a7-100:part0:1.1", 10.0, "uart"),
    "basys3": ("artix7", "xc7a35tcpg236-1", "digilentinc.com:basys3:part0:1.2", 10.0, "uart"),
    "nexys-a7-100t": ("artix7", "xc7a100tcsg324-1", "digilentinc.com:nexys-a7-100t:part0:1.3", 10.0, "uart"),
    "cmod-a7-35t": ("artix7", "xc7a35tcpg236-1", "digilentinc.com:cmod_a7-35t:part0:1.2", 10.0, "uart"),
}

# name -> (clock (port, pin, period ns), reset (port, pin, active_low), uart_rx = FPGA input (port, pin),
# uart_tx = FPGA output (port, pin)): boards_facts.md section 2, summary table
PINS = {
    "arty-a7-35t": (("CLK100MHZ", "E3", 10.0), ("ck_rst", "C2", True), ("uart_txd_in", "A9"),
                    ("uart_rxd_out", "D10")),
    "arty-a7-100t": (("CLK100MHZ", "E3", 10.0), ("ck_rst", "C2", True), ("uart_txd_in", "A9"),
                     ("uart_rxd_out", "D10")),
    "basys3": (("clk", "W5", 10.0), ("btnC", "U18", False), ("RsRx", "B18"), ("RsTx", "A18")),
    "nexys-a7-100t": (("CLK100MHZ", "E3", 10.0), ("CPU_RESETN", "C12", True), ("UART_TXD_IN", "C4"),
                      ("UART_RXD_OUT", "D4")),
    "cmod-a7-35t": (("sysclk", "L17", 83.33), ("btn[0]", "A18", False), ("uart_txd_in", "J17"),
                    ("uart_rxd_out", "J18")),
}

# part totals (lut, ff, bram36, dsp, uram): DS190 (XC7Z020), DS891 (XCZU9EG, XCZU7EV, XCZU3EG), DS987 (K26),
# DS180 (XC7A35T, XC7A100T)
XC7Z020 = (53200, 106400, 140, 220, 0)
XC7A35T = (20800, 41600, 50, 90, 0)
XC7A100T = (63400, 126800, 135, 240, 0)
RESOURCES = {
    "pynq-z1": XC7Z020, "pynq-z2": XC7Z020, "zedboard": XC7Z020, "zybo-z7-20": XC7Z020,
    "zcu102": (274080, 548160, 912, 2520, 0), "zcu104": (230400, 460800, 312, 1728, 96),
    "ultra96v2": (70560, 141120, 216, 360, 0), "kv260": (117120, 234240, 144, 1248, 64),
    "arty-a7-35t": XC7A35T, "basys3": XC7A35T, "cmod-a7-35t": XC7A35T,
    "arty-a7-100t": XC7A100T, "nexys-a7-100t": XC7A100T,
}

# a valid Artix board file; the schema tests break one line of it at a time
ARTIX = """\
name: mine
family: artix7
part: xc7a35ticsg324-1L
board_part: digilentinc.com:arty-a7-35:part0:1.1
clock_period_ns: 10
interface: uart
pins:
  clock: {port: CLK100MHZ, pin: E3, period_ns: 10.0}
  reset: {port: ck_rst, pin: C2, active_low: true}
  uart_rx: {port: uart_txd_in, pin: A9}
  uart_tx: {port: uart_rxd_out, pin: D10}
resources: {lut: 20800, ff: 41600, bram36: 50, dsp: 90}
"""


@pytest.fixture(autouse=True)
def _no_env_boards(monkeypatch):
    """No user board directories from the environment running the tests."""
    monkeypatch.delenv(boards.BOARDS_ENV, raising=False)


def _run(capsys, *args) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def _write(directory: Path, name: str, text: str = ARTIX) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.yaml"
    path.write_text(text.replace("name: mine", f"name: {name}"))
    return path


# ----------------------------------------------------------------------------- the shipped catalogue


def test_catalogue_is_the_thirteen_boards():
    assert sorted(p.stem for p in boards.boards_dir().glob("*.yaml")) == sorted(FACTS)
    assert boards.known_boards() == sorted(FACTS)


@pytest.mark.parametrize("name", sorted(FACTS))
def test_shipped_board_matches_the_facts(name):
    board = boards.load_board(name)
    family, part, board_part, clock, interface = FACTS[name]
    assert (board.name, board.family, board.part, board.board_part) == (name, family, part, board_part)
    assert (board.clock_period_ns, board.interface) == (clock, interface)
    assert board.resources is not None
    assert (board.resources.lut, board.resources.ff, board.resources.bram36, board.resources.dsp,
            board.resources.uram) == RESOURCES[name]
    assert board.board_part_note and board.sources  # every shipped board says where its facts come from
    assert board.path is not None and board.path.stem == name and not boards_cmd.is_user_board(board)
    # every source names a repository at a revision (or a branch) and a file
    for source in board.sources:
        repo, _, rest = source.partition("@")
        assert "/" in repo and " " in rest, source


@pytest.mark.parametrize("name", sorted(PINS))
def test_artix_pins_and_reset_polarity(name):
    pins = boards.load_board(name).pins
    clock, reset, rx, tx = PINS[name]
    assert (pins.clock.port, pins.clock.pin, pins.clock.period_ns) == clock
    assert (pins.reset.port, pins.reset.pin, pins.reset.active_low) == reset
    assert (pins.uart_rx.port, pins.uart_rx.pin) == rx
    assert (pins.uart_tx.port, pins.uart_tx.pin) == tx
    assert pins.iostandard == "LVCMOS33"


def test_zynq_boards_have_no_pins_and_cmod_clock_differs_from_its_oscillator():
    for name, facts in FACTS.items():
        assert (boards.load_board(name).pins is None) == (facts[0] != "artix7"), name
    cmod = boards.load_board("cmod-a7-35t")
    assert cmod.clock_period_ns == 10.0 and cmod.pins.clock.period_ns == 83.33  # 12 MHz oscillator, MMCM to 100


# ----------------------------------------------------------------------------- user board directories


def test_user_dirs_add_and_override(tmp_path, monkeypatch):
    first, second, env = tmp_path / "first", tmp_path / "second", tmp_path / "env"
    _write(first, "pynq-z2", ARTIX.replace("xc7a35ticsg324-1L", "xc7a100tcsg324-1"))  # overrides the shipped one
    _write(second, "pynq-z2")  # later in the search path: not used
    _write(second, "my-arty")
    _write(env, "env-board")
    _write(env, "my-arty", ARTIX.replace("clock_period_ns: 10", "clock_period_ns: 8"))  # --boards-dir wins
    monkeypatch.setenv(boards.BOARDS_ENV, str(env))
    dirs = [str(first), str(second)]
    assert boards.board_dirs(dirs) == [first, second, env, boards.boards_dir()]
    over = boards.load_board("pynq-z2", dirs)
    assert over.part == "xc7a100tcsg324-1" and over.path == first / "pynq-z2.yaml"
    assert boards_cmd.is_user_board(over) and boards_cmd.overrides_shipped(over)
    assert boards.load_board("my-arty", dirs).clock_period_ns == 10.0
    assert boards.load_board("env-board", dirs).path == env / "env-board.yaml"
    assert boards.load_board("zcu104", dirs).part == "xczu7ev-ffvc1156-2-e"  # shipped boards still there
    assert set(boards.known_boards(dirs)) == set(FACTS) | {"my-arty", "env-board"}
    assert boards.load_board("pynq-z2").part == "xc7z020clg400-1"  # without the directories: the shipped one


def test_missing_user_dir_is_one_error(tmp_path, capsys, monkeypatch):
    rc, _, err = _run(capsys, "boards", "--boards-dir", tmp_path / "nope")
    assert rc == 2 and "board directory" in err and "nope" in err and len(err.strip().splitlines()) == 1
    monkeypatch.setenv(boards.BOARDS_ENV, str(tmp_path / "gone"))
    rc, _, err = _run(capsys, "boards")
    assert rc == 2 and "gone" in err and "ARITH4ML_BOARDS" in err


# ----------------------------------------------------------------------------- schema errors


def _line(text: str, prefix: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if line.lstrip().startswith(prefix))


@pytest.mark.parametrize("old, new, key, at, words", [
    ("part: xc7a35ticsg324-1L\n", "", "", "1", ["board file lacks part"]),
    ("part: xc7a35ticsg324-1L", "part: xc7a35t csg324-1", "part", "part:", ["whitespace"]),
    ("part: xc7a35ticsg324-1L", "part: 7a35t", "part", "part:", ["not a Xilinx part name"]),
    ("family: artix7", "family: zynq7000", "part", "part:", ["not a zynq7000 part"]),
    ("interface: uart", "interface: axi-stream-dma", "interface", "interface:", ["not the interface",
                                                                                 "artix7", "'uart'"]),
    ("pin: E3,", "pin: E3X,", "pins.clock.pin", "clock:", ["'E3X'", "not a package pin"]),
    ("active_low: true", "active_low: yes please", "pins.reset.active_low", "reset:", ["true or false"]),
    ("pin: A9}", "pin: C2}", "pins", "pins:", ["pin C2 is given to two signals"]),
    ("  uart_tx: {port: uart_rxd_out, pin: D10}\n", "", "pins", "pins:", ["lacks uart_tx"]),
    ("name: mine", "name: yours", "name", "name:", ["'yours'", "'mine'", "file name"]),
])
def test_schema_errors_name_file_line_and_key(tmp_path, old, new, key, at, words):
    text = ARTIX.replace(old, new)
    assert text != ARTIX
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    with pytest.raises(boards.ConfigError) as info:
        boards.read_board_file(path)
    line = at if at.isdigit() else str(_line(text, at))
    prefix = f"{path}:{line}: {key}: " if key else f"{path}:{line}: "
    message = str(info.value)
    assert message.startswith(prefix), (message, prefix)
    for w in words:
        assert w in message, (w, message)


def test_bad_board_file_through_the_cli(tmp_path, capsys):
    user = tmp_path / "user"
    text = ARTIX.replace("pin: A9}", "pin: C2}").replace("name: mine", "name: dup")
    _write(user, "dup", text)
    for args in (("boards", "--boards-dir", user), ("boards", "dup", "--boards-dir", user)):
        rc, out, err = _run(capsys, *args)
        assert rc == 2 and out == "" and len(err.strip().splitlines()) == 1
        assert err.startswith("arith4ml boards: error: ")
        assert f"{user / 'dup.yaml'}:{_line(text, 'pins:')}: pins: pin C2 is given to two signals" in err


# ----------------------------------------------------------------------------- arith4ml boards


def test_table_lists_every_board(capsys):
    rc, out, err = _run(capsys, "boards")
    assert rc == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["name", "family", "part", "board"]
    for name, (family, part, board_part, _, interface) in FACTS.items():
        row = next(line for line in lines if line.split()[:1] == [name])
        cells = row.split()
        assert cells[1:4] == [family, part, board_part] and cells[4] == "100" and cells[5] == interface
        assert cells[6:10] == [str(v) for v in RESOURCES[name][:4]] and cells[-1] == "shipped"
    assert "13 boards" in out


def test_table_marks_user_boards(tmp_path, capsys, monkeypatch):
    user, env = tmp_path / "user", tmp_path / "env"
    _write(user, "mine")
    _write(user, "basys3", ARTIX.replace("clock_period_ns: 10", "clock_period_ns: 8"))
    _write(env, "from-env")
    monkeypatch.setenv(boards.BOARDS_ENV, str(env))
    rc, out, _ = _run(capsys, "boards", "--boards-dir", user)
    assert rc == 0
    rows = {line.split()[0]: line for line in out.splitlines()[2:] if line.strip() and "boards;" not in line}
    assert rows["mine"].endswith("user") and rows["from-env"].endswith("user")
    assert rows["basys3"].endswith("user (overrides shipped)") and " 125 " in rows["basys3"]
    assert rows["zcu102"].endswith("shipped") and "15 boards" in out  # 13 shipped + mine + from-env


def test_single_board_view(capsys):
    rc, out, _ = _run(capsys, "boards", "arty-a7-35t")
    assert rc == 0
    for words in ("xc7a35ticsg324-1L", "digilentinc.com:arty-a7-35:part0:1.1", "10 ns (100 MHz)", "uart",
                  "E3   CLK100MHZ: board oscillator 10 ns (100 MHz)", "C2   ck_rst: active-low",
                  "A9   uart_txd_in: FPGA input", "D10  uart_rxd_out: FPGA output", "LVCMOS33",
                  "LUT 20800, FF 41600, BRAM36 50, DSP 90", "board part note", "Arty-A7-35-Master.xdc",
                  str(boards.boards_dir() / "arty-a7-35t.yaml"), "(shipped)"):
        assert words in out, words
    rc, out, _ = _run(capsys, "boards", "cmod-a7-35t")
    assert "A18  btn[0]: active-high" in out and "83.33 ns (12 MHz)" in out and "10 ns (100 MHz)" in out
    rc, out, _ = _run(capsys, "boards", "kv260")
    assert "pins" not in out.split("board part note")[0] and "URAM 64" in out and "kv260_som:part0:1.3" in out


def test_json(capsys, tmp_path):
    rc, out, _ = _run(capsys, "boards", "--json")
    data = json.loads(out)
    assert rc == 0 and [b["name"] for b in data] == sorted(FACTS)
    basys = next(b for b in data if b["name"] == "basys3")
    assert basys["pins"]["reset"] == {"port": "btnC", "pin": "U18", "active_low": False}
    assert basys["resources"]["lut"] == 20800 and basys["source"] == "shipped" and basys["clock_mhz"] == 100.0
    rc, out, _ = _run(capsys, "boards", "zcu104", "--json")
    one = json.loads(out)
    assert one["board_part"] == "xilinx.com:zcu104:part0:1.1" and one["pins"] is None and one["resources"]["uram"] == 96


def test_board_without_resources_in_table(tmp_path, capsys):
    user = tmp_path / "user"
    _write(user, "bare", ARTIX.split("resources:")[0])
    rc, out, _ = _run(capsys, "boards", "--boards-dir", user)
    row = next(line for line in out.splitlines() if line.startswith("bare "))
    assert rc == 0 and row.split()[6:10] == ["-"] * 4
    rc, out, _ = _run(capsys, "boards", "bare", "--boards-dir", user)
    assert rc == 0 and "none listed" in out


@pytest.mark.parametrize("name, close", [("zedbaord", "zedboard"), ("arty-a7-35", "arty-a7-35t"),
                                         ("PYNQ-Z2", "pynq-z2")])
def test_unknown_board_close_matches(capsys, name, close):
    rc, out, err = _run(capsys, "boards", name)
    assert rc == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert f"unknown board '{name}'" in err and f"did you mean {close}" in err


def test_bad_board_name_and_catalogue_copy(capsys, tmp_path, monkeypatch):
    rc, _, err = _run(capsys, "boards", "../pynq-z2")
    assert rc == 2 and "path" in err
    # a copy of the catalogue (as tests/test_estimate.py's fixture makes) lists the same boards
    cat = tmp_path / "cat"
    shutil.copytree(boards.boards_dir(), cat)
    monkeypatch.setattr(boards, "boards_dir", lambda: cat)
    rc, out, _ = _run(capsys, "boards")
    assert rc == 0 and "13 boards" in out and "user" not in out
