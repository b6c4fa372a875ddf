"""Board catalogue: one YAML file per board in ``boards/`` (shipped with the package), and the part-name check.

Board names and FPGA parts come from the user (``--board``, ``--part``, a board file) and end up in
file paths and in the Tcl scripts Vivado runs, so both are checked where they enter:
:func:`check_board_name` (a plain name, no path) and :func:`check_part` (the Xilinx part grammar,
no whitespace or Tcl metacharacters).  Every problem is a one-line
:class:`~toolchain.errors.ConfigError` (exit code 2) naming the bad value; a board file's are
``FILE:LINE: key: message``.

An Artix-7 board (no processor) also has ``pins``: the board clock, the reset button (with its polarity) and
the USB-UART's two lines, as the board maker's master XDC names and places them (seen from the FPGA:
``uart_rx`` is the FPGA's input).  ``board_part_note`` says which Vivado releases ship the board part and
``sources`` cites the files the facts come from.

Boards are looked up in the directories given by ``--boards-dir`` (repeatable), then in ``$ARITH4ML_BOARDS``
(``os.pathsep``-separated), then in the shipped ``boards/``: a user's own board file of the same name wins.

A board file may list its part's resources (``resources: {lut, ff, bram36, dsp, uram}``, the totals of the
part's data sheet): ``arith4ml report`` compares its estimate with them and ``convert --fit`` chooses
ReuseFactors that fit them (``toolchain.estimate``).  The key is optional (a user's board file may leave
it out: then there is nothing to compare with).
"""
from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from toolchain import yamlfile
from toolchain.errors import ConfigError
from toolchain.resources import boards_dir

REQUIRED = ("name", "family", "part", "clock_period_ns", "interface")
OPTIONAL = ("board_part", "board_part_note", "resources", "pins", "sources")
BOARDS_ENV = "ARITH4ML_BOARDS"  # extra board directories, os.pathsep-separated, searched before the shipped ones
# interface of each family: Zynq boards talk to the PS through AXI DMA, Artix boards through a UART bridge
INTERFACES = {"zynq7000": "axi-stream-dma", "zynqmp": "axi-stream-dma", "artix7": "uart"}
PIN_KEYS = ("clock", "reset", "uart_rx", "uart_tx")  # the pins an Artix board file gives (pins: iostandard optional)
PACKAGE_PIN = re.compile(r"[A-Z]{1,2}[0-9]{1,2}")  # a package ball: E3, AA12
PORT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\[[0-9]+\])?")  # an XDC port: CLK100MHZ, btn[0]
IOSTANDARDS = ("LVCMOS33", "LVCMOS25", "LVCMOS18", "LVCMOS15", "LVCMOS12")
# resources: the part's totals (data sheet); lut, ff, bram36 (36 Kib block RAMs) and dsp (DSP slices) are
# required in a resources mapping, uram (288 Kib UltraRAMs, UltraScale+ only) is optional
RESOURCE_KEYS = ("lut", "ff", "bram36", "dsp")
OPTIONAL_RESOURCE_KEYS = ("uram",)
# board family -> the part prefixes it has (a board file's part must belong to its family)
FAMILIES = {"zynq7000": ("xc7z",), "zynqmp": ("xczu", "xck"), "artix7": ("xc7a",)}

BOARD_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
MAX_NAME = 64
# Xilinx part names: xc + device + package + speed grade (+ temperature), '-'-separated,
# e.g. xc7z020clg400-1, xc7a35ticsg324-1L, xczu9eg-ffvb1156-2-e, xck26-sfvc784-2LV-c, xcu250-figd2104-2L-e
PART = re.compile(r"xc[a-z0-9]+(-[a-z0-9]+)*", re.IGNORECASE)
MAX_PART = 40
# families Vivado targets: 7 series (Artix, Kintex, Virtex, Spartan, Zynq), UltraScale(+) (Kintex, Virtex,
# Artix, Spartan, Zynq MPSoC/RFSoC), Kria SOMs (xck), Alveo cards (xcu), Versal (xcv[cemnph])
PART_FAMILY = re.compile(r"xc(7[aksvz]|ku|vu|au|su|zu|k\d|u\d|v[cehmnp])", re.IGNORECASE)
PART_EXAMPLE = "xc7z020clg400-1"
TCL_SPECIAL = set('[]{}$;"\\`')
BOARD_PART = re.compile(r"[A-Za-z0-9._-]+(:[A-Za-z0-9._-]+)*")  # vendor:board:component:version


@dataclass(frozen=True)
class Resources:
    """A part's totals: LUTs, flip-flops, BRAM36 blocks, DSP slices and UltraRAMs (0 where it has none)."""

    lut: int
    ff: int
    bram36: int
    dsp: int
    uram: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"lut": self.lut, "ff": self.ff, "bram36": self.bram36, "dsp": self.dsp, "uram": self.uram}


@dataclass(frozen=True)
class Pin:
    """One FPGA pin: its port name (as the board maker's master XDC spells it) and its package ball."""

    port: str
    pin: str


@dataclass(frozen=True)
class ClockPin(Pin):
    period_ns: float  # the board oscillator's period (the design clock may differ: then an MMCM)


@dataclass(frozen=True)
class ResetPin(Pin):
    active_low: bool  # True: the button pulls the pin to 0 when pressed


@dataclass(frozen=True)
class BoardPins:
    """The pins of an Artix board's UART bridge: clock, reset, UART lines seen from the FPGA."""

    clock: ClockPin
    reset: ResetPin
    uart_rx: Pin  # FPGA input (the host's TX)
    uart_tx: Pin  # FPGA output (the host's RX)
    iostandard: str = "LVCMOS33"


@dataclass(frozen=True)
class Board:
    name: str
    family: str
    part: str
    clock_period_ns: float  # the design clock
    interface: str
    board_part: str | None = None
    resources: Resources | None = None  # the part's totals, if the board file lists them
    pins: BoardPins | None = None  # Artix boards: clock, reset, UART
    board_part_note: str | None = None  # which Vivado releases ship the board part
    sources: tuple[str, ...] = ()  # the files the facts come from
    path: Path | None = None  # the board file


def board_dirs(extra: Sequence[str | os.PathLike] = ()) -> list[Path]:
    """Where boards are looked up, first match wins: ``extra`` (``--boards-dir``), ``$ARITH4ML_BOARDS``, shipped."""
    env = [d for d in os.environ.get(BOARDS_ENV, "").split(os.pathsep) if d.strip()]
    dirs = [Path(d).expanduser() for d in (*extra, *env)]
    for d in dirs:
        if not d.is_dir():
            raise ConfigError(f"board directory '{d}' does not exist or is not a directory"
                              + (f" (from ${BOARDS_ENV})" if str(d) in env else ""))
    return dirs + [boards_dir()]


def known_boards(extra: Sequence[str | os.PathLike] = ()) -> list[str]:
    """Names of every board in the search path (``board_dirs``)."""
    return sorted({p.stem for d in board_dirs(extra) for p in d.glob("*.yaml")})


def check_board_name(name: str) -> str:
    """``name`` if it is a plain board name (letters, digits, ``._-``; no path); ConfigError naming it otherwise."""
    known = f"known boards: {', '.join(known_boards())}"
    if not name:
        raise ConfigError(f"board name '{name}' is empty; {known}")
    if "/" in name or "\\" in name or ".." in name:
        raise ConfigError(f"board name {name!r} contains a path ('/', '\\' or '..'); a board is a plain name, {known}")
    if len(name) > MAX_NAME or not BOARD_NAME.fullmatch(name):
        raise ConfigError(f"board name {name!r} is not a board name (letters, digits, '.', '_', '-', at most "
                          f"{MAX_NAME} characters); {known}")
    return name


def check_part(part: str, what: str = "part") -> str:
    """``part`` if it is a Xilinx part name (e.g. ``xc7z020clg400-1``); ConfigError ``WHAT 'PART': ...`` otherwise.

    The part is pasted into Vivado Tcl scripts: whitespace and Tcl metacharacters are refused by name.
    """
    if not isinstance(part, str):
        raise ConfigError(f"{what} {part!r} must be a string, e.g. {PART_EXAMPLE}")
    shown = repr(part) if len(part) <= MAX_PART + 20 else repr(part[:MAX_PART]) + "..."
    if not part:
        raise ConfigError(f"{what} is empty; expected a Xilinx part such as {PART_EXAMPLE}")
    special = sorted(set(part) & TCL_SPECIAL)
    if special:
        raise ConfigError(f"{what} {shown} contains {' '.join(repr(c) for c in special)}, which cannot be in a part "
                          f"name (the part is written into Vivado Tcl scripts); expected a Xilinx part such as "
                          f"{PART_EXAMPLE}")
    if any(c.isspace() for c in part):
        raise ConfigError(f"{what} {shown} contains whitespace; expected a Xilinx part such as {PART_EXAMPLE}")
    if len(part) > MAX_PART:
        raise ConfigError(f"{what} {shown} is longer than {MAX_PART} characters; expected a Xilinx part such as "
                          f"{PART_EXAMPLE}")
    if not PART.fullmatch(part):
        raise ConfigError(f"{what} {shown} is not a Xilinx part name (xc, then letters and digits in '-'-separated "
                          f"fields, e.g. {PART_EXAMPLE}, xczu9eg-ffvb1156-2-e)")
    if not PART_FAMILY.match(part):
        raise ConfigError(f"{what} {shown} is not in a part family Vivado targets (known: xc7a/k/s/v/z, xcku, xcvu, "
                          f"xcau, xcsu, xczu, xck, xcu, xcv[cehmnp])")
    return part


def load_board(name: str, extra_dirs: Sequence[str | os.PathLike] = ()) -> Board:
    """The board called ``name`` (first in ``board_dirs(extra_dirs)``); ConfigError naming a bad name, an unknown one
    (with close matches and the known boards) or a bad key of its file."""
    check_board_name(name)
    for d in board_dirs(extra_dirs):
        path = d / f"{name}.yaml"
        if path.is_file():
            return read_board_file(path)
    known = known_boards(extra_dirs)
    close = difflib.get_close_matches(name.lower(), known, n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    raise ConfigError(f"unknown board '{name}'; {hint}known boards: {', '.join(known)}")


def read_board_file(path: Path) -> Board:
    """A board file, every key checked: ConfigError ``FILE:LINE: key: message`` for a missing, unknown or bad key."""
    doc = yamlfile.load(path, expected="a mapping of board keys", what="board file")
    data = doc.data
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise doc.error((), f"board file lacks {', '.join(missing)}")
    unknown = [k for k in data if k not in REQUIRED + OPTIONAL]
    if unknown:
        raise doc.error((unknown[0],), f"unknown key (known: {', '.join(REQUIRED + OPTIONAL)})")
    for key in ("name", "family", "part", "interface"):
        if not isinstance(data[key], str) or not data[key]:
            raise doc.error((key,), f"must be a non-empty string, got {data[key]!r}")
    if data["family"] not in FAMILIES:
        raise doc.error(("family",), f"'{data['family']}' is not one of {', '.join(FAMILIES)}")
    try:
        part = check_part(data["part"])
    except ConfigError as exc:
        raise doc.error(("part",), str(exc)) from None
    if not part.lower().startswith(FAMILIES[data["family"]]):
        raise doc.error(("part",), f"part '{part}' is not a {data['family']} part "
                                   f"({' or '.join(FAMILIES[data['family']])}...)")
    clock = data["clock_period_ns"]
    if isinstance(clock, bool) or not isinstance(clock, (int, float)) or not (math.isfinite(clock) and clock > 0):
        raise doc.error(("clock_period_ns",), f"must be a positive number of nanoseconds, got {clock!r}")
    board_part = data.get("board_part")
    if board_part is not None and not (isinstance(board_part, str) and BOARD_PART.fullmatch(board_part)):
        raise doc.error(("board_part",), f"{board_part!r} is not a board part (vendor:board:component:version)")
    if data["interface"] != INTERFACES[data["family"]]:
        raise doc.error(("interface",), f"'{data['interface']}' is not the interface of a {data['family']} board "
                                        f"('{INTERFACES[data['family']]}')")
    note = data.get("board_part_note")
    if note is not None and not isinstance(note, str):
        raise doc.error(("board_part_note",), f"must be a string, got {note!r}")
    sources = data.get("sources", [])
    if not isinstance(sources, list) or not all(isinstance(v, str) and v for v in sources):
        raise doc.error(("sources",), f"must be a list of strings (the files the facts come from), got {sources!r}")
    pins = _pins(doc)
    if (pins is None) != (data["family"] != "artix7"):
        raise doc.error(("pins",) if pins is not None else (), "an artix7 board needs pins (clock, reset, uart_rx, "
                        "uart_tx); other families have none" if pins is None else
                        f"only artix7 boards have pins; this is a {data['family']} board")
    # last, so that a copied board file's other errors are named first; a board is looked up by its file name
    # (``load_board``), so a different ``name`` would make it answer to two names
    if data["name"] != Path(path).stem:
        raise doc.error(("name",), f"'{data['name']}' differs from the file's name '{Path(path).stem}': a board "
                                   f"file's name must be its file name without .yaml")
    return Board(name=data["name"], family=data["family"], part=part, clock_period_ns=float(clock),
                 interface=data["interface"], board_part=board_part, resources=_resources(doc), pins=pins,
                 board_part_note=note, sources=tuple(sources), path=Path(path))


def _pin(doc, key: str) -> Pin:
    entry = doc.data["pins"][key]
    keys = {"clock": ("port", "pin", "period_ns"), "reset": ("port", "pin", "active_low")}.get(key, ("port", "pin"))
    if not isinstance(entry, dict) or set(entry) != set(keys):
        raise doc.error(("pins", key), f"must be a mapping of exactly {', '.join(keys)}, got {entry!r}")
    if not isinstance(entry["port"], str) or not PORT_NAME.fullmatch(entry["port"]):
        raise doc.error(("pins", key, "port"), f"{entry['port']!r} is not an XDC port name (e.g. CLK100MHZ, btn[0])")
    if not isinstance(entry["pin"], str) or not PACKAGE_PIN.fullmatch(entry["pin"]):
        raise doc.error(("pins", key, "pin"), f"{entry['pin']!r} is not a package pin (e.g. E3, AA12)")
    if key == "clock":
        period = entry["period_ns"]
        if isinstance(period, bool) or not isinstance(period, (int, float)) or not (math.isfinite(period)
                                                                                   and period > 0):
            raise doc.error(("pins", key, "period_ns"), f"must be a positive number of nanoseconds, got {period!r}")
        return ClockPin(entry["port"], entry["pin"], float(period))
    if key == "reset":
        if not isinstance(entry["active_low"], bool):
            raise doc.error(("pins", key, "active_low"), f"must be true or false, got {entry['active_low']!r}")
        return ResetPin(entry["port"], entry["pin"], entry["active_low"])
    return Pin(entry["port"], entry["pin"])


def _pins(doc) -> BoardPins | None:
    """The ``pins`` mapping of an Artix board file (None if absent); ``FILE:LINE: pins.KEY: message`` errors."""
    if "pins" not in doc.data:
        return None
    data = doc.data["pins"]
    if not isinstance(data, dict):
        raise doc.error(("pins",), f"must be a mapping of {', '.join(PIN_KEYS)} (and iostandard), got {data!r}")
    missing = [k for k in PIN_KEYS if k not in data]
    if missing:
        raise doc.error(("pins",), f"lacks {', '.join(missing)}")
    unknown = [k for k in data if k not in PIN_KEYS + ("iostandard",)]
    if unknown:
        raise doc.error(("pins", unknown[0]), f"unknown pin (known: {', '.join(PIN_KEYS)}, iostandard)")
    iostandard = data.get("iostandard", "LVCMOS33")
    if iostandard not in IOSTANDARDS:
        raise doc.error(("pins", "iostandard"), f"{iostandard!r} is not one of {', '.join(IOSTANDARDS)}")
    used = [_pin(doc, k) for k in PIN_KEYS]
    balls = [p.pin for p in used]
    if len(set(balls)) != len(balls):
        dup = next(b for b in balls if balls.count(b) > 1)
        raise doc.error(("pins",), f"pin {dup} is given to two signals")
    clock, reset, uart_rx, uart_tx = used
    return BoardPins(clock=clock, reset=reset, uart_rx=uart_rx, uart_tx=uart_tx, iostandard=iostandard)


def _resources(doc) -> Resources | None:
    """The ``resources`` mapping of a board file (None if absent); ``FILE:LINE: resources.KEY: message`` errors."""
    if "resources" not in doc.data:
        return None
    data = doc.data["resources"]
    known = RESOURCE_KEYS + OPTIONAL_RESOURCE_KEYS
    if not isinstance(data, dict):
        raise doc.error(("resources",), f"must be a mapping of {', '.join(known)} to counts, got {data!r}")
    missing = [k for k in RESOURCE_KEYS if k not in data]
    if missing:
        raise doc.error(("resources",), f"lacks {', '.join(missing)} (the part's totals from its data sheet)")
    unknown = [k for k in data if k not in known]
    if unknown:
        raise doc.error(("resources", unknown[0]), f"unknown resource (known: {', '.join(known)})")
    for key, value in data.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise doc.error(("resources", key), f"must be a non-negative integer count, got {value!r}")
    if data["lut"] == 0 or data["ff"] == 0:
        raise doc.error(("resources", "lut" if data["lut"] == 0 else "ff"), "a part has more than 0 of these")
    return Resources(**{k: int(v) for k, v in data.items()})
