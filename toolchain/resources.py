"""Where the shipped HLS templates and board files live (wheel install or source checkout)."""
from __future__ import annotations

import sys
from pathlib import Path

_PKG = Path(__file__).resolve().parent


def _find(name: str) -> Path:
    # source checkout or editable install: repo root; wheel: <prefix>/share/arith4ml (pyproject data-files)
    for candidate in (_PKG.parent / name, Path(sys.prefix) / "share" / "arith4ml" / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"arith4ml data folder '{name}' is missing from the installation ({_PKG})")


def templates_dir() -> Path:
    return _find("templates")


def boards_dir() -> Path:
    return _find("boards")
