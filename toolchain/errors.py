"""Error types shared by the whole toolchain.

Every error a user can trigger is a subclass of :class:`Arith4mlError` and
carries a one-line message that names the offending thing.  The CLI maps each
class to its exit code (``exit_code``; the whole scheme is in ``toolchain.cli``'s docstring):
2 bad input, 3 :class:`ToolMissingError`, 4 :class:`ToolFailedError`, 5 :class:`FileSystemError`,
6 :class:`OutOfMemoryError`, 7 :class:`NoPlanError`.
"""
from __future__ import annotations

import errno
import os

EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT = 0, 1, 2
EXIT_TOOL_MISSING, EXIT_TOOL_FAILED, EXIT_FILESYSTEM, EXIT_MEMORY, EXIT_NO_PLAN = 3, 4, 5, 6, 7
EXIT_INTERNAL, EXIT_INTERRUPTED = 70, 130  # 70: EX_SOFTWARE of sysexits.h; 130: 128 + SIGINT


class Arith4mlError(Exception):
    """Base of all user-facing errors. ``exit_code`` is used by the CLI.

    ``layer`` and ``key`` name what the error is about (a layer of the model, a config key such as
    ``Moduli``) as structured fields, so that callers can point at the config line that set it
    without parsing the message.
    """

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str = "", *, layer: str | None = None, key: str | None = None):
        super().__init__(message)
        self.layer = layer
        self.key = key

    def located(self, where: str) -> "Arith4mlError":
        """The same error (class, exit code, fields) with ``where`` (e.g. ``FILE:LINE: key.path``) put in front."""
        new = type(self)(f"{where}: {self}", layer=self.layer, key=self.key)
        new.__dict__.update(self.__dict__)  # every field (exit_code, command, log, path...) as it was
        return new


class ArithValueError(Arith4mlError, ValueError):
    """A bad value handed to an arithmetic reference (moduli, widths, tables, NaN...)."""


class ConfigError(Arith4mlError, ValueError):
    """A bad configuration file or key; the message names the file, line and key."""


class UnsupportedError(Arith4mlError, ValueError):
    """A layer, quantizer or option the toolchain cannot map."""


class DataError(Arith4mlError, ValueError):
    """Input data of the wrong shape, dtype, or containing NaN/inf."""


class NoPlanError(Arith4mlError, LookupError):
    """A project or model has no arithmetic plan for the layer asked for (not a Dense/Conv layer arith4ml
    planned, or no such layer): ``arith4ml rtl-cost --layer``."""

    exit_code = EXIT_NO_PLAN


class ToolMissingError(Arith4mlError, RuntimeError):
    """A required tool (g++, vivado, vitis_hls) is not on PATH."""

    exit_code = EXIT_TOOL_MISSING


class ToolFailedError(Arith4mlError, RuntimeError):
    """A tool ran and failed (e.g. g++ on a project); the message names the command and its log file."""

    exit_code = EXIT_TOOL_FAILED

    def __init__(self, message: str = "", *, command: str | None = None, log: str | None = None, **fields):
        super().__init__(message, **fields)
        self.command = command
        self.log = log


# errno -> what the user can do about it
_OS_HINTS = {
    errno.ENOSPC: "the disk is full; free some space and run again",
    errno.EDQUOT: "the disk quota is exhausted; free some space and run again",
    errno.EROFS: "the file system is read-only; choose a writable location",
    errno.EACCES: "check the permissions or choose another location",
    errno.EPERM: "check the permissions or choose another location",
}


class FileSystemError(Arith4mlError, RuntimeError):
    """The file system refused (disk full, read-only, permission denied...): names the path and the reason."""

    exit_code = EXIT_FILESYSTEM
    path: str | None = None  # the path the OSError named
    os_errno: int | None = None  # its errno (errno.ENOSPC, ...)

    @classmethod
    def from_os_error(cls, exc: OSError, action: str | None = None) -> "FileSystemError":
        """One line for ``exc``: ``[action ]'PATH': reason[; hint]`` (``action`` e.g. ``"cannot write"``)."""
        reason = exc.strerror or (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        hint = _OS_HINTS.get(exc.errno)
        paths = [os.fsdecode(p) for p in (exc.filename, exc.filename2) if isinstance(p, (str, bytes, os.PathLike))]
        what = " -> ".join(f"'{p}'" for p in paths)
        front = " ".join(x for x in (action, what) if x)
        text = f"{front}: {reason}" if front else f"file-system error: {reason}"
        err = cls(f"{text}; {hint}" if hint else text)
        err.path, err.os_errno = (paths[0] if paths else None), exc.errno
        return err


class OutOfMemoryError(Arith4mlError, RuntimeError):
    """Not enough memory for what was asked (a huge -n, model or data set)."""

    exit_code = EXIT_MEMORY

    @classmethod
    def from_memory_error(cls, exc: BaseException) -> "OutOfMemoryError":
        """One line for a MemoryError (NumPy's says how much it wanted) or an ``ENOMEM`` OSError."""
        detail = (str(exc).strip().splitlines() or [""])[0] or type(exc).__name__
        return cls(f"not enough memory for this run ({detail}); ask for less (fewer samples with -n, "
                   f"a smaller model or data set) or free memory")
