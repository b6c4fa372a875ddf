"""``arith4ml boards``: the board catalogue as a table, one board in full, or JSON.

The catalogue is every ``*.yaml`` in the board search path (:func:`toolchain.boards.board_dirs`): the
directories of ``--boards-dir`` (repeatable), then ``$ARITH4ML_BOARDS``, then the shipped ``boards/``.  A
user's board file of the same name as a shipped one replaces it; user boards are marked as such.  Every
board file is fully checked, so a bad one stops the command with ``FILE:LINE: key: message`` (exit 2), and
an unknown board name gives its close matches (exit 2).
"""
from __future__ import annotations

import argparse
import json
import textwrap
from pathlib import Path
from typing import Any

from toolchain import boards
from toolchain.boards import Board

NOTE_WIDTH = 96  # the board part note is wrapped to this width in the single-board view
COLUMNS = ("name", "family", "part", "board part", "MHz", "interface", "LUT", "FF", "BRAM36", "DSP", "source")
NUMERIC = {"MHz", "LUT", "FF", "BRAM36", "DSP"}  # right-aligned


def add_parser(sub) -> None:
    p = sub.add_parser("boards", help="list the board catalogue, or show one board (part, board part, clock, "
                                      "pins, resources, sources)",
                       description="Without NAME, list every board (shipped and your own) with its family, part, "
                                   "Vivado board part, design clock, interface and the part's LUT/FF/BRAM36/DSP "
                                   "totals. With NAME, show that board in full: for Artix boards the clock, reset "
                                   "(with its polarity) and UART pins; the board part note (which Vivado releases "
                                   "ship it); the sources of the facts; the file it came from. Your own board "
                                   "directories (--boards-dir, $ARITH4ML_BOARDS) are searched before the shipped "
                                   "ones; see docs/boards.md for the board file format.")
    p.add_argument("name", nargs="?", metavar="NAME", help="a board to show in full (default: list them all)")
    p.add_argument("--boards-dir", metavar="DIR", action="append", default=[],
                   help="a directory of your own board files (NAME.yaml), searched before $ARITH4ML_BOARDS and "
                        "the shipped boards; repeatable")
    p.add_argument("--json", action="store_true", help="print the catalogue (or the board NAME) as JSON")
    p.set_defaults(func=run)


def is_user_board(board: Board) -> bool:
    """True when the board file is not one of the shipped ones (it came from --boards-dir or $ARITH4ML_BOARDS)."""
    return board.path is None or board.path.parent.resolve() != boards.boards_dir().resolve()


def overrides_shipped(board: Board) -> bool:
    """True for a user board whose name is also a shipped board's (the user's file wins)."""
    return is_user_board(board) and (boards.boards_dir() / f"{board.name}.yaml").is_file()


def _source(board: Board) -> str:
    if not is_user_board(board):
        return "shipped"
    return "user (overrides shipped)" if overrides_shipped(board) else "user"


def _mhz(period_ns: float) -> str:
    return f"{round(1000.0 / period_ns, 2):g}"


def board_dict(board: Board) -> dict[str, Any]:
    """The board as plain JSON data (every Board field, plus its source and design clock in MHz)."""
    pins = None
    if board.pins is not None:
        p = board.pins
        pins = {"clock": {"port": p.clock.port, "pin": p.clock.pin, "period_ns": p.clock.period_ns},
                "reset": {"port": p.reset.port, "pin": p.reset.pin, "active_low": p.reset.active_low},
                "uart_rx": {"port": p.uart_rx.port, "pin": p.uart_rx.pin},
                "uart_tx": {"port": p.uart_tx.port, "pin": p.uart_tx.pin},
                "iostandard": p.iostandard}
    return {"name": board.name, "family": board.family, "part": board.part, "board_part": board.board_part,
            "board_part_note": board.board_part_note, "clock_period_ns": board.clock_period_ns,
            "clock_mhz": round(1000.0 / board.clock_period_ns, 3), "interface": board.interface,
            "resources": board.resources.as_dict() if board.resources is not None else None, "pins": pins,
            "sources": list(board.sources), "path": str(board.path) if board.path else None,
            "source": _source(board)}


def catalogue(extra_dirs: list[str]) -> list[Board]:
    """Every board of the search path, by name; the first file of a name wins (``load_board``)."""
    return [boards.load_board(name, extra_dirs) for name in boards.known_boards(extra_dirs)]


def table(rows: list[Board]) -> str:
    """The catalogue as an aligned text table, one board a line."""
    cells = []
    for b in rows:
        r = b.resources
        res = [str(v) for v in (r.lut, r.ff, r.bram36, r.dsp)] if r is not None else ["-"] * 4
        cells.append([b.name, b.family, b.part, b.board_part or "-", _mhz(b.clock_period_ns), b.interface, *res,
                      _source(b)])
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(COLUMNS)]

    def line(values) -> str:
        return "  ".join(v.rjust(w) if c in NUMERIC else v.ljust(w)
                         for c, v, w in zip(COLUMNS, values, widths)).rstrip()

    return "\n".join([line(COLUMNS), line(["-" * w for w in widths]), *(line(row) for row in cells)])


def detail(board: Board) -> str:
    """One board in full: every key, the pins with their direction and polarity, the note and sources."""
    where = f"{board.path} ({_source(board)})" if board.path else _source(board)
    out = [f"{board.name}", f"  file             {where}", f"  family           {board.family}",
           f"  part             {board.part}", f"  board part       {board.board_part or '- (none: the part alone)'}",
           f"  design clock     {board.clock_period_ns:g} ns ({_mhz(board.clock_period_ns)} MHz)",
           f"  interface        {board.interface}"]
    r = board.resources
    out.append("  resources        " + (f"LUT {r.lut}, FF {r.ff}, BRAM36 {r.bram36}, DSP {r.dsp}"
                                      + (f", URAM {r.uram}" if r.uram else "") if r is not None
                                      else "- (none listed: report and --fit have nothing to compare with)"))
    if board.pins is not None:
        p = board.pins
        out += [f"  pins             (iostandard {p.iostandard})",
                f"    clock          {p.clock.pin:4s} {p.clock.port}: board oscillator {p.clock.period_ns:g} ns "
                f"({_mhz(p.clock.period_ns)} MHz)",
                f"    reset          {p.reset.pin:4s} {p.reset.port}: active-{'low' if p.reset.active_low else 'high'}",
                f"    uart_rx        {p.uart_rx.pin:4s} {p.uart_rx.port}: FPGA input (the host's TX)",
                f"    uart_tx        {p.uart_tx.pin:4s} {p.uart_tx.port}: FPGA output (the host's RX)"]
    if board.board_part_note:
        out.append("  board part note")
        out += textwrap.wrap(" ".join(board.board_part_note.split()), NOTE_WIDTH, initial_indent="    ",
                             subsequent_indent="    ")
    if board.sources:
        out.append("  sources")
        out += [f"    {s}" for s in board.sources]
    return "\n".join(out)


def run(args: argparse.Namespace) -> int:
    """List the catalogue, or show the board ``args.name``; JSON with ``--json``."""
    dirs = [str(Path(d)) for d in args.boards_dir]
    if args.name is not None:
        board = boards.load_board(args.name, dirs)
        print(json.dumps(board_dict(board), indent=1) if args.json else detail(board))
        return 0
    rows = catalogue(dirs)
    if args.json:
        print(json.dumps([board_dict(b) for b in rows], indent=1))
    else:
        print(table(rows))
        print(f"\n{len(rows)} boards; 'arith4ml boards NAME' shows one in full")
    return 0
