"""Reading a user's input file: one check and one message for a path that is missing, a directory or unreadable."""
from __future__ import annotations

import os
from pathlib import Path

from toolchain.errors import Arith4mlError


def read_input_bytes(path: str | os.PathLike, what: str, error: type[Arith4mlError]) -> bytes:
    """The bytes of the file ``path``; ``error`` ("{what} 'PATH' does not exist / is not a file / cannot be read")."""
    p = Path(path)
    if not p.exists():
        raise error(f"{what} '{path}' does not exist")
    if not p.is_file():
        raise error(f"{what} '{path}' is not a file")
    try:
        return p.read_bytes()
    except OSError as exc:
        raise error(f"{what} '{path}' cannot be read: {exc.strerror or exc}") from None
