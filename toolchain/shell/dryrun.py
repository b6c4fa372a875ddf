"""Run a generated Tcl script under plain ``tclsh`` with the vendor commands replaced by recording stubs
(``templates/shell/dryrun_stubs.tcl``), and read back the vendor commands it called, in order: how the board
shells' scripts are checked without Vivado (``arith4ml build --dry-run``, the tests, the demo).

A syntax error, an undefined variable or a command that is not a stub (a typo, another tool's command) makes
tclsh fail, and :func:`run_dryrun` raises :class:`DryRunError` with its stderr.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from toolchain.errors import ToolFailedError, ToolMissingError


class DryRunError(ToolFailedError):
    """A generated Tcl script failed under the dry-run harness (syntax error, undefined variable or command)."""

STUBS_FILE = "shell/dryrun_stubs.tcl"  # under the shipped templates (toolchain.resources.templates_dir)


def stubs() -> Path:
    """The Tcl file of recording stubs for the vendor commands."""
    from toolchain.resources import templates_dir

    return templates_dir() / STUBS_FILE


def tclsh() -> str | None:
    return shutil.which("tclsh")


def run_dryrun(script: str | os.PathLike, cwd: str | os.PathLike, argv: list[str] | None = None,
               env: dict[str, str] | None = None, timeout: float = 60) -> list[list[str]]:
    """Source ``script`` in ``cwd`` after the stubs, with ``$argv`` set to ``argv``; returns the recorded calls
    (each a list: command, then its arguments).  DryRunError with tclsh's output if the script fails."""
    exe = tclsh()
    if exe is None:
        raise ToolMissingError("tclsh is not installed: install the Debian package 'tcl' (make tools)")
    log = Path(cwd) / ".dryrun_calls.tcl"
    log.unlink(missing_ok=True)
    driver = Path(cwd) / ".dryrun_main.tcl"
    argv = argv or []
    driver.write_text(f"source {{{stubs()}}}\nset argv [list {' '.join('{' + a + '}' for a in argv)}]\n"
                      f"set argc {len(argv)}\nset argv0 {{{script}}}\nsource {{{Path(script).resolve()}}}\n")
    run_env = dict(os.environ, **(env or {}), ARITH4ML_DRYRUN_LOG=str(log))
    r = subprocess.run([exe, str(driver)], cwd=cwd, env=run_env, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise DryRunError(f"tclsh {script} failed ({r.returncode}): {r.stderr.strip() or r.stdout.strip()}")
    return [_parse_tcl_list(line) for line in log.read_text().splitlines() if line.strip()] if log.exists() else []


def _parse_tcl_list(text: str) -> list[str]:
    """A Tcl list as the stubs write it (plain words, {braced} words, backslash escapes) as Python strings."""
    out, i, n = [], 0, len(text)
    while i < n:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            break
        if text[i] == "{":
            depth, j = 1, i + 1
            while j < n and depth:
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                j += 1
            out.append(text[i + 1:j - 1])
            i = j
        else:
            j = i
            word = []
            while j < n and not text[j].isspace():
                if text[j] == "\\" and j + 1 < n:
                    word.append(text[j + 1])
                    j += 2
                    continue
                word.append(text[j])
                j += 1
            out.append("".join(word))
            i = j
    return out
