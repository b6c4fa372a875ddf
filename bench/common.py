"""Helpers shared by the benchmarks: building an hls4ml project's C-sim library with its time and peak compiler
memory measured, and loading the library into the hls_model afterwards.

``hm.compile()`` is ``hm.write()`` plus the backend's compile step, which for stock hls4ml's Vivado backend and for
arith4ml's backends alike runs the project's ``build_lib.sh`` (arith4ml's with ``ARITH4ML_CSIM_PATH=fast``, as
``toolchain.simlib.run_build`` does) and loads ``firmware/<project>-<stamp>.so``.  ``build_measured`` runs that
same script in a fresh, small Python child process which reports the wall time and
``getrusage(RUSAGE_CHILDREN).ru_maxrss`` after the build: the peak resident memory of the largest single process
of the build (g++ / cc1plus; processes that run at the same time are not summed), unaffected by this process's
own memory (TensorFlow) or by earlier builds.
"""
from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import time
from pathlib import Path

# the child: run argv[1:] with stdout/stderr to the log named by $BENCH_BUILD_LOG, print one JSON line
_CHILD = r"""
import json, os, resource, subprocess, sys, time
with open(os.environ["BENCH_BUILD_LOG"], "w") as log:
    t0 = time.perf_counter()
    rc = subprocess.run(sys.argv[1:], stdout=log, stderr=subprocess.STDOUT).returncode
    dt = time.perf_counter() - t0
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"rc": rc, "seconds": dt, "maxrss_kib": ru.ru_maxrss, "cpu_s": ru.ru_utime + ru.ru_stime}))
"""

ARITH4ML_BACKENDS = ("Bitshift", "RNS")


class BuildFailed(RuntimeError):
    pass


def build_measured(hm, log_name: str = "bench_build.log") -> dict:
    """Run the written project's ``build_lib.sh`` as ``hm.compile()`` would (the project must be written) and load
    the library into ``hm``.  Returns {"build_s", "peak_mib", "cpu_s"}: wall time, peak RSS of the largest
    compiler process (MiB), CPU seconds of the build's processes.  Raises BuildFailed naming the log."""
    out = Path(hm.config.get_output_dir())
    env = dict(os.environ, BENCH_BUILD_LOG=str(out / log_name))
    if hm.config.backend.name in ARITH4ML_BACKENDS:
        env["ARITH4ML_CSIM_PATH"] = "fast"
    proc = subprocess.run([sys.executable, "-c", _CHILD, "bash", "build_lib.sh"], cwd=out, env=env,
                          stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise BuildFailed(f"the build helper failed (exit {proc.returncode}); see {out / log_name}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    if res["rc"] != 0:
        lines = [ln for ln in (out / log_name).read_text(errors="replace").splitlines() if "error" in ln.lower()]
        raise BuildFailed(f"build_lib.sh exited with {res['rc']}: {(lines or ['?'])[0][:120]} (log {out / log_name})")
    lib = out / "firmware" / f"{hm.config.get_project_name()}-{hm.config.get_config_value('Stamp')}.so"
    if not lib.is_file():
        raise BuildFailed(f"the build did not produce {lib}")
    hm._top_function_lib = ctypes.cdll.LoadLibrary(str(lib))  # what hls4ml's ModelGraph._compile does
    return {"build_s": res["seconds"], "peak_mib": res["maxrss_kib"] / 1024.0, "cpu_s": res["cpu_s"]}


def write_timed(hm) -> float:
    """``hm.write()`` (the project's files), seconds."""
    t0 = time.perf_counter()
    hm.write()
    return time.perf_counter() - t0


def git_commit(root: str | os.PathLike) -> str:
    """HEAD's commit of the repository at ``root`` (plus ``+dirty`` when tracked files differ), or '?'."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "?"


def dump_json(path: str, data) -> None:
    with open(path, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
