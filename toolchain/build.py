"""``arith4ml build``: run the vendor tools on a project, where they are installed.

Steps (``--synth`` when none is given): ``--csim`` (the HLS tool's C simulation), ``--synth`` (C synthesis),
``--cosim`` (C/RTL co-simulation; implies ``--synth``), ``--export`` (the board shell's HLS IP, exported to the IP
catalogue; needs a board), ``--bitstream`` (the board shell through Vivado to a bitstream; implies ``--export``).

* Without ``--export``/``--bitstream`` the project's own hls4ml ``build_prj.tcl`` runs, one invocation per step, as
  hls4ml's ``VivadoBackend.build`` runs it: ``vivado_hls -f build_prj.tcl "reset=0 csim=1 synth=0 ..."`` (same
  for ``vitis_hls``).  ``vitis-run --mode hls --tcl`` passes no arguments to a script, so for it the steps go into
  ``build_opt.tcl`` (what hls4ml's Vitis template sources) and into ``arith4ml_build.tcl``, a two-line wrapper that
  sets ``argv`` and sources ``build_prj.tcl`` (what the Vivado template, which arith4ml projects use, reads).
* With ``--export``/``--bitstream`` the board shell is written (:func:`toolchain.shell.write_shell` with the HLS
  steps, which it puts into ``hls_options.tcl`` beside its HLS script, and ``--jobs``, which it puts into the
  Vivado script's ``launch_runs``), its HLS script runs (one invocation, every HLS step), then
  ``vivado -mode batch -source <vivado script>``.

Before anything runs: the project, the board (``--board``, else the one the project was converted for; required for
``--export``/``--bitstream``), the estimate against the board's part (``--bitstream`` only; ``--force`` goes on) and
the tools (:func:`toolchain.build_tools.find_tools`): a missing tool stops the build before anything is written
(exit 3).  Each step's output streams to ``PROJECT/logs/<step>.log``; a failed step is exit 4 naming the step, the
log and its last error lines.  After success the reports go to ``PROJECT/reports/summary.json`` and a table.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from toolchain import build_reports, project
from toolchain.atomic import write_text_atomic
from toolchain.boards import Board, load_board
from toolchain.build_tools import Tool, Tools, failure, find_tools, run_step
from toolchain.errors import ConfigError, DataError

STEPS = ("csim", "synth", "cosim", "export", "bitstream")
HLS_STEPS = ("csim", "synth", "cosim", "export")
BOARD_STEPS = ("export", "bitstream")  # steps that build the board shell: they need a board
BUILD_SCRIPT = "build_prj.tcl"  # hls4ml's, in every project
BUILD_OPT = "build_opt.tcl"  # hls4ml's Vitis template sources it for the steps
WRAPPER = "arith4ml_build.tcl"  # vitis-run: sets argv for the Vivado template, then sources build_prj.tcl
SHELL_STEP_NAMES = {"csim": "csim", "synth": "csynth", "cosim": "cosim", "export": "export"}  # hls_options.tcl's
LOGS, REPORTS, SUMMARY = "logs", "reports", "summary.json"
# hls4ml build_prj.tcl's switches, in its order; 'validation' compares C-sim and co-simulation outputs
HLS4ML_OPTS = ("reset", "csim", "synth", "cosim", "validation", "export", "vsynth", "fifo_opt")


@dataclass
class Plan:
    """What a build will do, decided before any tool runs."""

    project_dir: Path
    name: str  # the project (top function) name
    steps: list[str]  # in STEPS order
    board: Board | None
    jobs: int
    logs: dict[str, Path] = field(default_factory=dict)  # step -> its log, filled as steps run
    csynth: Path | None = None  # the HLS synthesis report, once synthesis ran
    hm: object = None  # the project's hls4ml model when the budget check reopened it (the shell writer reuses it)


def project_name(project_dir: Path) -> str:
    """The project name from hls4ml's ``project.tcl`` (``set project_name "myproject"``), without importing hls4ml."""
    for line in (project_dir / "project.tcl").read_text(errors="replace").splitlines():
        words = line.split()
        if len(words) >= 3 and words[:2] == ["set", "project_name"]:
            return words[2].strip('"{}')
    raise DataError(f"'{project_dir / 'project.tcl'}' does not set project_name; convert the model again")


def checked_project(path: str) -> Path:
    """``path`` resolved if it is an arith4ml project with hls4ml's build script; DataError (exit 2) otherwise."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"project directory '{path}' does not exist")
    if not p.is_dir():
        raise DataError(f"'{path}' is not a directory; give a project directory written by 'arith4ml convert'")
    if not project.is_project(p):
        raise DataError(f"'{path}' is not an arith4ml project (no {project.META} written by 'arith4ml convert')")
    for needed in (BUILD_SCRIPT, "project.tcl"):
        if not (p / needed).is_file():
            raise DataError(f"project '{path}' has no {needed}; convert the model again")
    return p.resolve()


def requested_steps(args: argparse.Namespace) -> list[str]:
    """The steps asked for, with what they need: none -> synth; bitstream -> export; cosim and export -> synth
    (co-simulation runs the synthesised RTL, the export packages it)."""
    steps = {s for s in STEPS if getattr(args, s)} or {"synth"}
    if "bitstream" in steps:
        steps.add("export")
    if steps & {"cosim", "export"}:
        steps.add("synth")
    return [s for s in STEPS if s in steps]


def board_of(args: argparse.Namespace, project_dir: Path, steps: list[str]) -> Board | None:
    """--board, else the project's recorded board; ConfigError (exit 2) when a board step has none, or when the
    board's part is not the project's (the shell would build another chip than the one the project targets)."""
    needs = [s for s in steps if s in BOARD_STEPS]
    name = args.board or project.recorded_board(project_dir)
    if name is None:
        if needs:
            raise ConfigError(f"--{needs[-1]} needs a board and the project records none; pass --board NAME "
                              "(e.g. --board pynq-z2)")
        return None
    try:
        board = load_board(name, args.boards_dir or ())
    except ConfigError:
        if args.board is not None or needs:
            raise
        return None  # the recorded board is not in this installation, and no step here needs it
    if needs:
        meta = json.loads((project_dir / project.META).read_text())
        if str(meta.get("part", "")).lower() != board.part.lower():
            raise ConfigError(f"board '{board.name}' has part {board.part} but the project was converted for part "
                              f"{meta.get('part')}; convert it again with --board {board.name}")
    return board


def check_budget(project_dir: Path, board: Board, force: bool) -> tuple[list[str], object]:
    """The estimate against ``board``'s part: ConfigError (exit 2) naming the first resource over it unless
    ``force`` (then the warnings are returned).  Nothing to compare with when the board file lists no resources.
    Returns the notes and the reopened hls4ml model (None when not needed), which the shell writer reuses."""
    from toolchain import estimate

    budget = estimate.budget_of(board)
    if budget is None:
        return [f"note: board '{board.name}' lists no resources; the estimate is not compared with its part"], None
    hm, _ = project.reopen(project_dir, compile=False)
    over = estimate.overuses(estimate.estimate_model(hm), budget)
    if over and not force:
        o = over[0]
        name = estimate.RESOURCE_NAMES[o.resource]
        largest = ", ".join(f"{layer} {amount:,}" for layer, amount in o.culprits)
        more = f" (and {', '.join(estimate.RESOURCE_NAMES[x.resource] for x in over[1:])})" if over[1:] else ""
        raise ConfigError(f"the estimate needs {o.total:,} {name} but {board.name} ({board.part}) has {o.budget:,}"
                          f"{more}; largest: {largest}; raise ReuseFactor (convert --fit {board.name}) or pass "
                          "--force to build anyway")
    return [o.message(board) for o in over], hm


# ---- HLS on the project's build_prj.tcl -----------------------------------------------------------------------


def hls4ml_opts(step: str, steps: list[str]) -> dict[str, int]:
    """build_prj.tcl's switches for one ``step`` (one invocation each): the step itself, and ``validation`` with
    co-simulation when C-sim ran too (it compares their outputs in tb_data/)."""
    opts = dict.fromkeys(HLS4ML_OPTS, 0)
    opts[step] = 1
    if step == "cosim" and "csim" in steps:
        opts["validation"] = 1
    return opts


def opts_argument(opts: dict[str, int]) -> str:
    """The one argument vivado_hls/vitis_hls pass to build_prj.tcl: ``reset=0 csim=1 ...`` (hls4ml's format)."""
    return " ".join(f"{k}={v}" for k, v in opts.items())


def write_vitis_run_options(project_dir: Path, opts: dict[str, int]) -> Path:
    """For vitis-run (no script arguments): ``build_opt.tcl`` (hls4ml's Vitis template sources it) and the wrapper
    that sets ``argv`` for the Vivado template and sources build_prj.tcl; returns the wrapper."""
    body = "".join(f"    {k:10s} {v}\n" for k, v in opts.items())
    write_text_atomic(project_dir / BUILD_OPT, f"array set opt {{\n{body}}}\n")
    wrapper = (f"# written by 'arith4ml build': vitis-run --tcl passes no arguments to a script, so the steps that\n"
               f"# vivado_hls/vitis_hls pass to {BUILD_SCRIPT} as arguments are set here\n"
               f"set argv [list {{{opts_argument(opts)}}}]\n"
               f"set argc 1\n"
               f"source [file join [file dirname [info script]] {BUILD_SCRIPT}]\n")
    return write_text_atomic(project_dir / WRAPPER, wrapper)


def hls_command(tool: Tool, script: Path, argument: str | None) -> list[str]:
    """The command line that runs Tcl ``script`` with ``tool`` (``argument``: the script's one argument, which
    vitis-run cannot pass; the caller writes it into a file instead)."""
    if tool.name == "vitis-run":
        return [str(tool.path), "--mode", "hls", "--tcl", str(script)]
    return [str(tool.path), "-f", str(script), *([argument] if argument else [])]


def run_project_hls(plan: Plan, tool: Tool) -> None:
    """Each HLS step through the project's build_prj.tcl, one invocation each (its own log)."""
    for step in (s for s in plan.steps if s in HLS_STEPS):
        opts = hls4ml_opts(step, plan.steps)
        if tool.name == "vitis-run":
            command = hls_command(tool, write_vitis_run_options(plan.project_dir, opts), None)
        else:
            command = hls_command(tool, Path(BUILD_SCRIPT), opts_argument(opts))
        plan.logs[step] = log = plan.project_dir / LOGS / f"{step}.log"
        run_step(step, command, plan.project_dir, log)
        if step == "synth":
            plan.csynth = require_csynth(step, command, log, plan.project_dir, plan.name)


def require_csynth(step: str, command: list[str], log: Path, root: Path, top: str) -> Path:
    """The csynth.xml a synthesis under ``root`` wrote (top ``top``, else the project's); a tool that exited 0
    without one (it happens: hls4ml #933) is a failed step, exit 4, before anything builds on it."""
    found = build_reports.find_csynth(root, top)
    if found is None:
        raise failure(step, " ".join(command), 0, log, _log_lines(log),
                      what=f"finished without writing a csynth.xml report under {root}")
    return found


# ---- the board shell ------------------------------------------------------------------------------------------


def shell_steps(steps: list[str]) -> tuple[str, ...]:
    """The HLS steps in the names the shell's hls_options.tcl takes (``hls_steps``: csim csynth cosim export)."""
    return tuple(SHELL_STEP_NAMES[s] for s in steps if s in HLS_STEPS)


def run_shell(plan: Plan, tools: Tools):
    """Write the board shell (its writer puts the HLS steps into hls_options.tcl and ``jobs`` into the Vivado
    script), run its HLS script (every HLS step in one invocation: the script opens its project with -reset), then
    Vivado when the bitstream was asked for; returns the ShellProject."""
    from toolchain import shell as shells  # the module, not the function: tests stand in for write_shell

    reuse = {"hm": plan.hm} if plan.hm is not None else {}
    shell = shells.write_shell(plan.project_dir, plan.board, jobs=plan.jobs, steps=shell_steps(plan.steps), **reuse)
    hls_steps = [s for s in plan.steps if s in HLS_STEPS]
    label = "+".join(hls_steps)
    plan.logs[label] = log = plan.project_dir / LOGS / f"{label}.log"
    command = hls_command(tools.hls, Path(shell.hls_script), None)
    run_step(label, command, Path(shell.hls_script).parent, log)
    plan.csynth = require_csynth(label, command, log, Path(shell.directory), f"{plan.name}_axis")
    if "bitstream" in plan.steps:
        plan.logs["bitstream"] = log = plan.project_dir / LOGS / "bitstream.log"
        # -nojournal/-nolog: the output is in our log already; no vivado.jou/vivado.log littering the shell
        command = [str(tools.vivado.path), "-mode", "batch", "-nojournal", "-nolog", "-source",
                   str(shell.vivado_script)]
        run_step("bitstream", command, Path(shell.vivado_script).parent, log)
        bit = shell.outputs.get("bit")
        if bit is None or not Path(bit).is_file():
            raise failure("bitstream", " ".join(command), 0, log, _log_lines(log),
                          what=f"finished without writing the bitstream {bit or '(none named)'}")
    return shell


def _log_lines(log: Path) -> list[str]:
    try:
        return log.read_text(errors="replace").splitlines()[-2000:]
    except OSError:
        return []


# ---- the summary ----------------------------------------------------------------------------------------------


def collect(plan: Plan, tools: Tools, shell=None) -> dict:
    """summary.json's content: what ran, with which tools, the logs, and the reports it wrote."""
    doc: dict = {"project": str(plan.project_dir), "name": plan.name,
                 "board": plan.board.name if plan.board else None, "steps": plan.steps, "tools": tools.as_dict(),
                 "logs": {k: str(v) for k, v in plan.logs.items()}, "hls": None, "utilization": None,
                 "timing": None, "bit": None, "hwh": None}
    if plan.csynth is not None:
        doc["hls"] = build_reports.parse_csynth(plan.csynth)
    if shell is not None and "bitstream" in plan.steps:
        outputs = {k: Path(v) for k, v in shell.outputs.items()}
        if outputs.get("utilization") and outputs["utilization"].is_file():
            doc["utilization"] = build_reports.parse_utilization(outputs["utilization"])
        if outputs.get("timing") and outputs["timing"].is_file():
            doc["timing"] = build_reports.parse_timing_summary(outputs["timing"])
        for key in ("bit", "hwh"):
            if outputs.get(key) and outputs[key].is_file():
                doc[key] = str(outputs[key])
    return doc


# ---- the command ----------------------------------------------------------------------------------------------


def jobs_count(text: str) -> int:
    """argparse type of --jobs: a positive integer."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text!r}")
    return value


def add_parser(sub) -> None:
    p = sub.add_parser("build", help="run the vendor tools on a project: HLS C-sim, synthesis, co-simulation, IP "
                                     "export, bitstream (needs Vitis HLS / Vivado HLS and Vivado on PATH)",
                       description="Run Vitis HLS (vitis-run or vitis_hls) or Vivado HLS on a project's hls4ml "
                                   "build script, or write the board shell and build its IP and bitstream with "
                                   "Vivado. Logs go to PROJECT/logs/STEP.log, the reports to "
                                   "PROJECT/reports/summary.json. A missing tool stops the build before anything "
                                   "is written (exit 3).")
    p.add_argument("project", help="project directory written by 'arith4ml convert'")
    p.add_argument("--csim", action="store_true", help="C simulation in the HLS tool")
    p.add_argument("--synth", action="store_true", help="C synthesis (the default when no step is given)")
    p.add_argument("--cosim", action="store_true", help="C/RTL co-simulation (implies --synth)")
    p.add_argument("--export", action="store_true", help="write the board shell and export its HLS IP (needs a "
                                                         "board)")
    p.add_argument("--bitstream", action="store_true", help="build the board shell's bitstream with Vivado "
                                                            "(implies --export; needs a board)")
    p.add_argument("--board", help="the board (default: the one the project was converted for)")
    p.add_argument("--boards-dir", action="append", metavar="DIR", help="also look for board files here (before "
                                                                         "$ARITH4ML_BOARDS and the shipped ones; "
                                                                         "repeatable)")
    p.add_argument("--jobs", type=jobs_count, default=os.cpu_count() or 1, metavar="N",
                   help="parallel Vivado jobs (launch_runs -jobs; default: every core)")
    p.add_argument("--dry-run", action="store_true", help="write the board shell and check its Tcl scripts under "
                   "tclsh with the vendor commands recorded, not run (no vendor tool needed); prints what they "
                   "would ask of Vivado")
    p.add_argument("--force", action="store_true", help="build the bitstream even when the estimate exceeds the "
                                                        "board's part")
    p.set_defaults(func=run)


def dry_run(args: argparse.Namespace, project_dir: Path) -> int:
    """``--dry-run``: write the board shell and run its scripts under tclsh with the vendor commands recorded
    (toolchain.shell.dryrun), in a temporary copy; no vendor tool is needed or run."""
    import tempfile

    from toolchain import shell as shells
    from toolchain.shell import dryrun

    board = board_of(args, project_dir, ["export"])
    shell = shells.write_shell(project_dir, board, jobs=args.jobs)
    with tempfile.TemporaryDirectory(prefix="arith4ml-dryrun-") as work:
        calls = dryrun.check_shell(shell, work)
    print(f"board shell for {board.name} ({board.part}): {shell.directory}")
    for script, recorded in calls.items():
        print(f"  {script}: runs under tclsh (dry run): {dryrun.summary(recorded)}")
    print(f"no vendor tool was run; with Vivado installed: arith4ml build {args.project} --board {board.name} "
          "--bitstream")
    return 0


def run(args: argparse.Namespace) -> int:
    project_dir = checked_project(args.project)
    if args.dry_run:
        return dry_run(args, project_dir)
    steps = requested_steps(args)
    board = board_of(args, project_dir, steps)
    notes, hm = check_budget(project_dir, board, args.force) if "bitstream" in steps else ([], None)
    tools = find_tools(steps)  # before anything is written: a missing tool is exit 3 with the project untouched
    for note in notes:
        print(note, file=sys.stderr)
    plan = Plan(project_dir, project_name(project_dir), steps, board, args.jobs, hm=hm)
    shell = None
    if any(s in BOARD_STEPS for s in steps):
        shell = run_shell(plan, tools)
    else:
        run_project_hls(plan, tools.hls)
    doc = collect(plan, tools, shell)
    (project_dir / REPORTS).mkdir(exist_ok=True)
    summary = write_text_atomic(project_dir / REPORTS / SUMMARY, json.dumps(doc, indent=1) + "\n")
    for line in build_reports.summary_lines(doc):
        print(line)
    print(f"summary: {summary}")
    return 0
