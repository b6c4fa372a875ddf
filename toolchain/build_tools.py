"""The vendor tools ``arith4ml build`` runs: finding them (:func:`find_tools`) and running one step with its log
(:func:`run_step`).

HLS tools, newest first (the command line changed over the releases, see ``../shared/boards_facts.md`` section 5):

=============  =================  ==============================================================================
executable     releases           how a Tcl script runs
=============  =================  ==============================================================================
``vitis-run``  2023.2 and later   ``vitis-run --mode hls --tcl SCRIPT``: no arguments reach the script, so the
                                  steps travel in a file the script sources
``vitis_hls``  2020.2 .. 2024.x   ``vitis_hls -f SCRIPT ARGS`` (deprecated from 2024.2, gone in 2025.1)
``vivado_hls`` 2019.1 .. 2020.1   ``vivado_hls -f SCRIPT ARGS`` (its last release is 2020.1)
=============  =================  ==============================================================================

and ``vivado`` (``vivado -mode batch -source SCRIPT -tclargs ARGS``) for the bitstream.  Each is looked up on
``PATH`` and in the ``bin`` directories of ``$XILINX_VITIS``, ``$XILINX_HLS`` and ``$XILINX_VIVADO`` (what the
installers' ``settings64.sh`` set), so a sourced installation is found even when its ``bin`` is not on ``PATH``.

A missing tool is found out before anything is written: :func:`find_tools` raises one
:class:`~toolchain.errors.ToolMissingError` (exit 3) naming every missing executable and how to make it visible.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from toolchain.errors import ToolFailedError, ToolMissingError

HLS_TOOLS = ("vitis-run", "vitis_hls", "vivado_hls")  # preference order: the newest command line first
VIVADO = "vivado"
XILINX_ENVS = ("XILINX_VITIS", "XILINX_HLS", "XILINX_VIVADO")  # set by the installers' settings64.sh
# oldest release each executable is supported from: vitis-run takes --tcl from 2023.2 on (2023.1 only had the
# config-file flow); Vivado HLS 2019.1 and Vivado 2019.1 are the oldest releases whose IP (processing_system7 5.5,
# axi_dma 7.1) the shells use; vitis_hls first shipped in 2020.2
MIN_VERSION = {"vitis-run": (2023, 2), "vitis_hls": (2020, 2), "vivado_hls": (2019, 1), VIVADO: (2019, 1)}
VERSION_FLAG = {"vitis-run": "--version"}  # the others take -version
VERSION_TIMEOUT_S = 120  # a vendor tool loads for seconds before it prints its version
VERSION = re.compile(r"\bv?(20\d\d)\.(\d)\b")  # "Vivado v2022.2 (64-bit)", ".../Vitis/2023.2/bin"
SETTINGS_HINT = ("source the settings64.sh of your Xilinx installation (e.g. /tools/Xilinx/Vivado/2023.2/"
                 "settings64.sh; it sets XILINX_VIVADO, XILINX_HLS, XILINX_VITIS) or add the tool's bin directory "
                 "to PATH")
ERROR_LINE = re.compile(r"\bERROR:|\bError:|^\s*Error\b|\bFATAL\b")  # vendor ERROR: [HLS 200-70], Tcl Error: ...
ERROR_LINES = 3  # last error lines quoted in a failure message
TAIL_CHARS = 160  # one quoted log line, at most
TICK_S = 0.25  # progress refresh on a terminal
PLAIN_EVERY_S = 60.0  # a plain progress line this often when stderr is not a terminal


@dataclass(frozen=True)
class Tool:
    """One vendor executable found: its name, full path and release (None when it did not say)."""

    name: str
    path: Path
    version: tuple[int, int] | None

    @property
    def version_text(self) -> str:
        return f"{self.version[0]}.{self.version[1]}" if self.version else "unknown"

    def as_dict(self) -> dict:
        return {"name": self.name, "path": str(self.path), "version": self.version_text}


@dataclass(frozen=True)
class Tools:
    """What :func:`find_tools` found: the HLS tool (when a step needs one) and Vivado (for the bitstream)."""

    hls: Tool | None = None
    vivado: Tool | None = None

    def as_dict(self) -> dict:
        return {k: t.as_dict() for k, t in (("hls", self.hls), ("vivado", self.vivado)) if t is not None}


def search_dirs(env: dict[str, str] | None = None) -> list[Path]:
    """PATH's directories, then ``$XILINX_VITIS/bin``, ``$XILINX_HLS/bin``, ``$XILINX_VIVADO/bin`` (those set)."""
    env = os.environ if env is None else env
    dirs = [Path(d) for d in env.get("PATH", "").split(os.pathsep) if d]
    dirs += [Path(env[v]) / "bin" for v in XILINX_ENVS if env.get(v)]
    return dirs


def which(name: str, env: dict[str, str] | None = None) -> Path | None:
    """The first executable ``name`` in :func:`search_dirs`, or None."""
    for d in search_dirs(env):
        found = shutil.which(name, path=str(d))
        if found:
            return Path(found)
    return None


def parse_version(text: str) -> tuple[int, int] | None:
    """The first ``YYYY.N`` release in ``text`` (a tool's version banner or its install path), or None."""
    m = VERSION.search(text)
    return (int(m.group(1)), int(m.group(2))) if m else None


def tool_version(name: str, path: Path) -> tuple[int, int] | None:
    """The release ``path`` reports (``-version``; ``--version`` for vitis-run), else the one in its install path
    (``.../Vivado/2023.2/bin``), else None: an unknown release is tried rather than refused."""
    flag = VERSION_FLAG.get(name, "-version")
    try:
        r = subprocess.run([str(path), flag], capture_output=True, text=True, errors="replace",
                           timeout=VERSION_TIMEOUT_S, stdin=subprocess.DEVNULL)
        found = parse_version(r.stdout + "\n" + r.stderr)
    except (OSError, subprocess.TimeoutExpired):
        found = None
    return found or parse_version(str(path.resolve()))


def _too_old(tool: Tool) -> bool:
    return tool.version is not None and tool.version < MIN_VERSION[tool.name]


def _old_message(tool: Tool) -> str:
    low = MIN_VERSION[tool.name]
    return f"{tool.name} {tool.version_text} ({tool.path}) is older than {low[0]}.{low[1]}, the oldest release it " \
           f"is supported from"


def find_tools(steps: set[str] | list[str] | tuple[str, ...], env: dict[str, str] | None = None) -> Tools:
    """The tools ``steps`` need (``csim``, ``synth``, ``cosim``, ``export``: an HLS tool; ``bitstream``: Vivado too).

    HLS: the first of vitis-run, vitis_hls, vivado_hls that is found and not too old.  ToolMissingError (exit 3),
    one line, naming every executable that is missing (or too old) and how to make it visible; nothing is run
    but the tools' version queries."""
    steps = set(steps)
    problems: list[str] = []
    hls = vivado = None
    if steps & {"csim", "synth", "cosim", "export", "bitstream"}:
        found: list[Tool] = []
        for name in HLS_TOOLS:  # asked for their versions one by one: each launch takes seconds
            path = which(name, env)
            if path is not None:
                found.append(Tool(name, path, tool_version(name, path)))
                if not _too_old(found[-1]):
                    hls = found[-1]
                    break
        if hls is None and found:
            problems.append("; ".join(_old_message(t) for t in found) + "; install Vitis HLS 2020.2 or later (or "
                            "Vivado HLS 2019.1..2020.1)")
        elif hls is None:
            problems.append(f"no HLS tool ({', '.join(HLS_TOOLS)}) on PATH or in "
                            f"{', '.join('$' + v + '/bin' for v in XILINX_ENVS)}")
    if "bitstream" in steps:
        path = which(VIVADO, env)
        if path is None:
            problems.append(f"'{VIVADO}' is not on PATH or in $XILINX_VIVADO/bin (the bitstream needs it)")
        else:
            vivado = Tool(VIVADO, path, tool_version(VIVADO, path))
            if _too_old(vivado):
                problems.append(_old_message(vivado) + "; install Vivado 2019.1 or later")
    if problems:
        raise ToolMissingError(f"{'; '.join(problems)}; {SETTINGS_HINT}")
    return Tools(hls, vivado)


# ---- running one step -----------------------------------------------------------------------------------------


def error_lines(lines: list[str], n: int = ERROR_LINES) -> list[str]:
    """The last ``n`` error lines of a log (ERROR:, Error:, FATAL), else its last non-empty line."""
    errors = [line.strip() for line in lines if ERROR_LINE.search(line)]
    if not errors:
        errors = [line.strip() for line in lines if line.strip()][-1:]
    return [e[:TAIL_CHARS] for e in errors[-n:]]


def _elapsed(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


class Progress:
    """One line on stderr per running step: ``[STEP 1m23s] last log line``, redrawn in place on a terminal; on a
    pipe or file a plain line at the start, every ``PLAIN_EVERY_S`` seconds and at the end (no carriage returns
    in CI logs)."""

    def __init__(self, step: str, stream=None) -> None:
        self.step = step
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.monotonic()
        self.last_plain = self.start
        self.last_line = ""

    def _text(self) -> str:
        return f"[{self.step} {_elapsed(time.monotonic() - self.start)}] {self.last_line}"

    def update(self, line: str | None = None) -> None:
        if line is not None and line.strip():
            self.last_line = line.strip()
        if self.tty:
            width = max(20, shutil.get_terminal_size((100, 20)).columns - 1)
            self.stream.write("\r" + self._text()[:width] + "\x1b[K")
            self.stream.flush()
        elif time.monotonic() - self.last_plain >= PLAIN_EVERY_S:
            self.last_plain = time.monotonic()
            print(self._text()[:200], file=self.stream, flush=True)

    def done(self, status: str) -> None:
        text = f"[{self.step} {_elapsed(time.monotonic() - self.start)}] {status}"
        print(("\r" + text + "\x1b[K") if self.tty else text, file=self.stream, flush=True)


def run_step(step: str, command: list[str], cwd: Path, log: Path, env: dict[str, str] | None = None) -> None:
    """Run ``command`` in ``cwd`` for ``step``, its output (stdout and stderr) into ``log`` as it comes, with a
    :class:`Progress` line.  ToolFailedError (exit 4) naming the step, the command, the log and its last error lines
    when it exits non-zero.  Ctrl-C stops the tool (its whole process group: vendor launchers start children)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    shown = " ".join(command)
    progress = Progress(step)
    tail: deque[str] = deque(maxlen=2000)  # enough to find the last errors without keeping a GB log in memory
    with open(log, "w", encoding="utf-8", errors="replace") as out:
        out.write(f"# arith4ml build: {step}: {shown} (in {cwd})\n")
        out.flush()
        if not progress.tty:
            print(f"[{step}] {shown} (log: {log})", file=sys.stderr, flush=True)
        # own session: Ctrl-C in the terminal reaches us, and we stop the tool's whole group
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, text=True, errors="replace", bufsize=1,
                                start_new_session=True)
        lines: deque[str] = deque()

        def pump() -> None:  # a thread: the progress line keeps ticking while the tool is silent
            for line in proc.stdout:
                out.write(line)
                out.flush()
                tail.append(line)
                lines.append(line)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        try:
            while reader.is_alive():
                reader.join(TICK_S)
                latest = None
                while lines:
                    latest = lines.popleft()
                progress.update(latest)
            rc = proc.wait()
        except BaseException:
            _stop(proc)
            raise
    if rc != 0:
        progress.done(f"failed (exit status {rc})")
        raise failure(step, shown, rc, log, list(tail))
    progress.done("done")


def failure(step: str, command: str, rc: int | None, log: Path, lines: list[str], what: str | None = None) -> \
        ToolFailedError:
    """The exit-4 error of a failed step: the step, the command, why, the log and its last error lines."""
    why = what or f"exited with status {rc}"
    errors = " | ".join(error_lines(lines)) or "the log is empty"
    return ToolFailedError(f"step '{step}' failed: '{command}' {why}; log {log}; last errors: {errors}",
                           command=command, log=str(log))


def _stop(proc: subprocess.Popen) -> None:
    """Terminate the tool's process group (it is ours: started with its own session), then kill it."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass
