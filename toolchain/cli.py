"""``arith4ml`` command line: one sub-command per module, each adding its own parser.

Exit codes: 0 success, 1 a check failed (e.g. C-sim mismatch), 2 bad input
(config, data, model, layer, moduli...), 3 a vendor tool is missing,
130 interrupted.  Errors print one line, never a traceback (set
``ARITH4ML_DEBUG=1`` to see one).
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import warnings

from toolchain import __version__
from toolchain.errors import Arith4mlError

# module name -> it defines add_parser(subparsers) which sets `func` on its parser
COMMAND_MODULES = ("toolchain.train", "toolchain.convert", "toolchain.csim", "toolchain.report")


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
    parser = argparse.ArgumentParser(prog="arith4ml", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"arith4ml {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # command not built yet in this checkout
                continue
            raise
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    _quiet()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except Arith4mlError as exc:
        if os.environ.get("ARITH4ML_DEBUG"):
            raise
        print(f"arith4ml {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("arith4ml: interrupted", file=sys.stderr)
        return 130
