"""Error types shared by the whole toolchain.

Every error a user can trigger is a subclass of :class:`Arith4mlError` and
carries a one-line message that names the offending thing.  The CLI maps each
class to a distinct exit code (see ``toolchain.cli``).
"""
from __future__ import annotations


class Arith4mlError(Exception):
    """Base of all user-facing errors. ``exit_code`` is used by the CLI.

    ``layer`` and ``key`` name what the error is about (a layer of the model, a config key such as
    ``Moduli``) as structured fields, so that callers can point at the config line that set it
    without parsing the message.
    """

    exit_code = 2

    def __init__(self, message: str = "", *, layer: str | None = None, key: str | None = None):
        super().__init__(message)
        self.layer = layer
        self.key = key

    def located(self, where: str) -> "Arith4mlError":
        """The same error (class, exit code, fields) with ``where`` (e.g. ``FILE:LINE: key.path``) put in front."""
        new = type(self)(f"{where}: {self}", layer=self.layer, key=self.key)
        new.exit_code = self.exit_code
        return new


class ArithValueError(Arith4mlError, ValueError):
    """A bad value handed to an arithmetic reference (moduli, widths, tables, NaN...)."""


class ConfigError(Arith4mlError, ValueError):
    """A bad configuration file or key; the message names the file, line and key."""


class UnsupportedError(Arith4mlError, ValueError):
    """A layer, quantizer or option the toolchain cannot map."""


class DataError(Arith4mlError, ValueError):
    """Input data of the wrong shape, dtype, or containing NaN/inf."""


class ToolMissingError(Arith4mlError, RuntimeError):
    """A vendor tool (vivado, vitis_hls) is not on PATH."""

    exit_code = 3


class ToolFailedError(Arith4mlError, RuntimeError):
    """A tool ran and failed (e.g. g++ on a project); the message names the command and its log file."""

    exit_code = 4

    def __init__(self, message: str = "", *, command: str | None = None, log: str | None = None, **fields):
        super().__init__(message, **fields)
        self.command = command
        self.log = log
