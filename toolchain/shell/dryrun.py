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


def _vendor_outputs(shell, workdir: Path) -> list[Path]:
    """What the vendor steps would leave in a copy of a shell directory, so that its scripts' collect stages run
    in a dry run: the exported HLS IP's directory; for Zynq the routed bitstream (the stubs' run DIRECTORY is the
    working directory) and the hardware handoff (.gen layout, Vivado 2020.2 and later)."""
    from toolchain.shell import hls

    top = f"{shell.io.name}_axis"
    made = [workdir / hls.HLS_DIR / "solution1" / "impl" / "ip" / "component.xml"]
    if shell.family in ("zynq7000", "zynqmp"):
        made += [workdir / "design_1_wrapper.bit",
                 workdir / f"vivado_prj/{top}_bd.gen/sources_1/bd/design_1/hw_handoff/design_1.hwh"]
    for path in made:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("dry run: stands in for a vendor tool's output\n")
    return made


def check_shell(shell, workdir: str | os.PathLike) -> dict[str, list[list[str]]]:
    """Run a board shell's HLS script and Vivado script under the dry-run harness in ``workdir`` (a copy of the
    shell directory: the shell itself is left as it is); returns each script's recorded vendor commands.

    DryRunError when a script fails (syntax error, undefined variable or command, a check of its own)."""
    work = Path(workdir)
    shutil.copytree(shell.directory, work, dirs_exist_ok=True)
    _vendor_outputs(shell, work)
    calls = {}
    for script in (Path(shell.hls_script), Path(shell.vivado_script)):
        calls[script.name] = run_dryrun(work / script.relative_to(shell.directory), work)
    return calls


def summary(calls: list[list[str]]) -> str:
    """One line of what a script would ask of the vendor tool: the part, the IP cells, the run steps."""
    def values(command: str, flag: str) -> list[str]:
        return [c[c.index(flag) + 1] for c in calls if c[0] == command and flag in c[:-1]]

    parts = sorted(set(values("create_project", "-part") + values("synth_design", "-part")
                       + [c[1] for c in calls if c[0] == "set_part" and len(c) > 1]))
    cells = [c[-1] for c in calls if c[0] == "create_bd_cell"]
    steps = [c[0] + (f" -to_step {c[c.index('-to_step') + 1]}" if "-to_step" in c[:-1] else "") for c in calls
             if c[0] in ("csim_design", "csynth_design", "cosim_design", "export_design", "synth_design",
                         "place_design", "route_design", "launch_runs", "write_bitstream")]
    text = f"{len(calls)} vendor commands"
    if parts:
        text += f"; part {', '.join(parts)}"
    if cells:
        text += f"; cells {', '.join(cells)}"
    return text + f"; steps {' -> '.join(dict.fromkeys(steps))}"
