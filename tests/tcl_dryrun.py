"""The Tcl dry-run harness for the tests: ``toolchain.shell.dryrun`` (shipped, also used by ``arith4ml build
--dry-run`` and the demo)."""
from toolchain.shell.dryrun import DryRunError, run_dryrun, stubs, tclsh

__all__ = ["DryRunError", "run_dryrun", "stubs", "tclsh"]
