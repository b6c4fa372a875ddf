"""Board catalogue: one YAML file per board in ``boards/`` (shipped with the package)."""
from __future__ import annotations

from dataclasses import dataclass

import yaml

from toolchain.errors import ConfigError
from toolchain.resources import boards_dir

REQUIRED = ("name", "family", "part", "clock_period_ns", "interface")
FAMILIES = ("zynq7000", "zynqmp", "artix7")


@dataclass(frozen=True)
class Board:
    name: str
    family: str
    part: str
    clock_period_ns: float
    interface: str
    board_part: str | None = None


def known_boards() -> list[str]:
    return sorted(p.stem for p in boards_dir().glob("*.yaml"))


def load_board(name: str) -> Board:
    """The board called ``name``; ConfigError listing the known boards otherwise."""
    path = boards_dir() / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"unknown board '{name}'; known boards: {', '.join(known_boards())}")
    data = yaml.safe_load(path.read_text()) or {}
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise ConfigError(f"{path}: board file lacks {', '.join(missing)}")
    if data["family"] not in FAMILIES:
        raise ConfigError(f"{path}: family '{data['family']}' is not one of {', '.join(FAMILIES)}")
    return Board(name=str(data["name"]), family=str(data["family"]), part=str(data["part"]),
                 clock_period_ns=float(data["clock_period_ns"]), interface=str(data["interface"]),
                 board_part=data.get("board_part"))
