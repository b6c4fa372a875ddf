"""``arith4ml`` command line: one sub-command per module, each adding its own parser.

Every failure prints one line on stderr, ``arith4ml COMMAND: error: MESSAGE`` naming the
offending thing, never a traceback (``ARITH4ML_DEBUG=1`` re-raises to show one), and exits
with a code that says what kind of failure it was:

====  =================================================================================
0     success
1     a check failed (C-sim differs from the reference)
2     bad input: config, data, model, layer, board, part, values, command-line arguments;
      also a file that is not UTF-8 text (``UnicodeDecodeError``) and an ``OSError`` without errno
      or path (what libraries such as h5py raise for a file they cannot parse)
3     a required tool is missing (g++, vivado, ...)
4     a tool ran and failed (e.g. a g++ compile error; the message names the command and its log)
5     file-system error: disk full (ENOSPC), read-only (EROFS), permission denied (EACCES) or any
      other ``OSError`` with an errno; the message names the path and the reason
6     out of memory (``MemoryError``, ENOMEM, TensorFlow's ``ResourceExhaustedError``)
7     the project or model has no arithmetic plan for the layer asked for (``rtl-cost --layer``)
70    internal error: anything unexpected, ``internal error: TYPE: MESSAGE`` (a bug; please report
      it with the traceback that ``ARITH4ML_DEBUG=1`` shows)
130   interrupted (Ctrl-C)
====  =================================================================================

:func:`user_error` is the one place that maps an exception to its line and exit code.
"""
from __future__ import annotations

import argparse
import errno
import importlib
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import warnings

from toolchain import __version__
from toolchain.errors import (
    EXIT_BAD_INPUT,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    Arith4mlError,
    ConfigError,
    FileSystemError,
    OutOfMemoryError,
    ToolFailedError,
)

# module name -> it defines add_parser(subparsers) which sets `func` on its parser
COMMAND_MODULES = ("toolchain.train", "toolchain.convert", "toolchain.csim", "toolchain.report", "toolchain.explore",
                   "toolchain.build", "toolchain.boards_cmd", "toolchain.rtl_cost")
DEBUG_ENV = "ARITH4ML_DEBUG"
HELP_WIDTH = 100  # a command's description is wrapped to this width

INTRO = "Hardware-friendly arithmetic from Keras to bit-exact HLS C++ (hls4ml backends Bitshift, RNS and Approx)."
EXAMPLE = """\
a typical session:
  arith4ml train examples/train_pot_mlp.yml -o runs/pot
  arith4ml convert runs/pot/model.h5 --backend bitshift --board pynq-z2 -o prj
  arith4ml csim prj
  arith4ml report prj

'arith4ml COMMAND --help' describes each command's arguments."""

EXIT_CODES = """\
exit codes:
  0    success
  1    a check failed (C-sim differs from the reference)
  2    bad input (config, data, model, layer, board, part, values, arguments)
  3    a required tool is missing (g++, vivado, ...)
  4    a tool failed (the message names the command and its log file)
  5    file-system error (disk full, read-only, permission denied)
  6    out of memory
  7    no arithmetic plan for the layer asked for (rtl-cost --layer)
  70   internal error (set ARITH4ML_DEBUG=1 for the traceback and report it)
  130  interrupted"""


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``PROG: error: MESSAGE (see 'PROG --help')``, exit code 2.

    Sub-command parsers are made with the parent's class, so they get it too.
    """

    def error(self, message: str):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _quiet() -> None:
    """Keep stderr for our own messages: no TensorFlow/Keras/QKeras chatter, one line per warning."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=PendingDeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*pyparsing.*")
    # library-internal notices (keras serialisation of QKeras quantizers, HDF5 "legacy format", ...)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"(keras|tf_keras|tensorflow|qkeras|absl)(\.|$)")
    for name in ("tensorflow", "absl", "h5py"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.showwarning = _show_warning


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings (e.g. a forced type narrower than exact, naming the layer) as one line each."""
    text = str(message).strip().replace("\n", " ")
    print(f"arith4ml: warning: {text}", file=file or sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    """The ``arith4ml`` parser; its description lists the commands with their one-line help."""
    parser = Parser(prog="arith4ml", usage="%(prog)s [-h] [--version] COMMAND ...", epilog=EXIT_CODES,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"arith4ml {__version__}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", prog="arith4ml", help=argparse.SUPPRESS)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # command not built yet in this checkout
                continue
            raise
        module.add_parser(sub)
    commands = [f"  {a.dest:9s} {a.help}" for a in sub._choices_actions]  # argparse keeps each command's help here
    parser.description = "\n\n".join([INTRO, "commands:\n" + "\n".join(commands), EXAMPLE])
    for p in sub.choices.values():  # every command's --help ends with the exit codes (kept as laid out here)
        p.epilog = "\n\n".join(x for x in (p.epilog, EXIT_CODES) if x)
        if p.description and "\n" not in p.description:
            p.description = textwrap.fill(p.description, HELP_WIDTH)
        p.formatter_class = argparse.RawDescriptionHelpFormatter
    return parser


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0]


def user_error(exc: Exception) -> Arith4mlError:
    """The one-line user-facing error (with its exit code) for any exception a command raised."""
    if isinstance(exc, Arith4mlError):
        return exc
    if isinstance(exc, MemoryError) or type(exc).__name__ == "ResourceExhaustedError":  # TF's, without importing TF
        return OutOfMemoryError.from_memory_error(exc)
    if isinstance(exc, UnicodeDecodeError):
        byte = exc.object[exc.start:exc.start + 1].hex() if isinstance(exc.object, bytes) else "?"
        return ConfigError(f"bad input encoding: a file is not {exc.encoding} text (byte 0x{byte} at offset "
                           f"{exc.start}: {exc.reason}); save it as UTF-8")
    if isinstance(exc, subprocess.CalledProcessError):
        cmd = exc.cmd if isinstance(exc.cmd, str) else " ".join(map(str, exc.cmd))
        return ToolFailedError(f"'{cmd}' failed with exit status {exc.returncode}", command=cmd)
    if isinstance(exc, OSError):
        if exc.errno == errno.ENOMEM:
            return OutOfMemoryError.from_memory_error(exc)
        if exc.errno is None and exc.filename is None:  # a library's "cannot parse" (e.g. h5py): bad input
            return ConfigError(f"cannot read the input: {_first_line(exc) or type(exc).__name__}")
        return FileSystemError.from_os_error(exc)
    error = Arith4mlError(f"internal error: {type(exc).__name__}: {_first_line(exc)} "
                          f"(set {DEBUG_ENV}=1 for the traceback)")
    error.exit_code = EXIT_INTERNAL
    return error


class _InterruptWatch:
    """SIGINT as Python's default handler treats it (KeyboardInterrupt), remembering that it came: a
    KeyboardInterrupt raised inside a C extension (TensorFlow, h5py) can surface as another exception
    (e.g. SystemError), which must still end as an interruption, not as an internal error."""

    def __init__(self) -> None:
        self.received = False

    def __call__(self, signum, frame) -> None:
        self.received = True
        signal.default_int_handler(signum, frame)


def main(argv: list[str] | None = None) -> int:
    """Run ``arith4ml ARGV``; returns the exit code (see the module doc)."""
    _quiet()
    command = None
    interrupts = _InterruptWatch()
    # only where Python's own handler is in place (never a caller's), and only the main thread may set one
    watched = (threading.current_thread() is threading.main_thread()
               and signal.getsignal(signal.SIGINT) is signal.default_int_handler)
    if watched:
        signal.signal(signal.SIGINT, interrupts)
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        command = args.command
        if not getattr(args, "func", None):
            parser.print_help()
            return EXIT_BAD_INPUT
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"arith4ml{f' {command}' if command else ''}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if interrupts.received:  # the interrupt surfaced through a C extension as another exception
            print(f"arith4ml{f' {command}' if command else ''}: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED
        if os.environ.get(DEBUG_ENV, "") not in ("", "0"):
            raise
        error = user_error(exc)
        text = " ".join(str(error).split())  # one line, whatever the message holds
        print(f"arith4ml{f' {command}' if command else ''}: error: {text}", file=sys.stderr)
        return error.exit_code
    finally:
        if watched:
            signal.signal(signal.SIGINT, signal.default_int_handler)


def entry() -> None:
    """The ``arith4ml`` executable (console script and ``python -m toolchain``): :func:`main`, then exit.

    After an interruption the process ends with ``os._exit`` once stdout and stderr are flushed: the
    interpreter's finalization can then abort (SIGABRT, "PyThreadState_Get ... finalizing") while
    TensorFlow's threads are still running, which would turn exit 130 into a crash.  Every file the
    commands write is atomic, so nothing half-written can be left by skipping finalization."""
    code = main()
    if code == EXIT_INTERRUPTED:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)
    sys.exit(code)
