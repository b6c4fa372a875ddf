"""The C-simulation library of a project: built from the project's files as they are, only when they changed.

``arith4ml csim`` never rewrites a project: it compiles what is on disk (a user's edits to
``firmware/`` included) with the project's own ``build_lib.sh``.  The library is named after a
digest of its sources, ``firmware/<project>-<digest>.so``, so an unchanged project is not
rebuilt and a changed one never loads a stale library.  A project that cannot be written to
(read-only mount, no permission) is copied to a cache directory and built there.

Two code paths through arith4ml's headers can be simulated (``csim_path``): ``fast`` (the default)
takes the C-simulation fast path (native integers, native copies of the weight ROMs, native
rounding); ``synthesis`` compiles the branches Vitis HLS synthesises (ap types everywhere, the
ROMs read as they are, ap_fixed conversions) with g++, by defining ``ARITH4ML_SYNTHESIS_PATH``
(``build_lib.sh`` does when ``ARITH4ML_CSIM_PATH=synthesis``).  Both compute the same bits; the
synthesis path exists to check that, and is several times slower.  Its library is
``firmware/<project>-<digest>-synthesis.so``, so the two never stand in for each other.

The build's output goes to ``build.log`` beside the sources (its first line names the path and the
compiler flags); a failing build raises
:class:`~toolchain.errors.ToolFailedError` naming the command and the log.  ``build_lib.sh``
compiles into a temporary directory and moves the finished library into place, so an
interrupted build leaves neither object files nor a half-written library.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from toolchain.errors import ConfigError, DataError, ToolFailedError, ToolMissingError

BUILD_SCRIPT = "build_lib.sh"
BUILD_LOG = "build.log"
STAMP_ENV = "ARITH4ML_LIB_STAMP"  # build_lib.sh names the library with it when set
DIGEST_CHARS = 16  # hex digits of the source digest in the library name
CACHE_ENV = "ARITH4ML_CACHE"  # where read-only projects are built; default: <tmp>/arith4ml-csim-<uid>
CSIM_PATH_ENV = "ARITH4ML_CSIM_PATH"  # build_lib.sh: which branches of the headers to compile
CSIM_PATHS = ("fast", "synthesis")
SYNTHESIS_SUFFIX = "-synthesis"  # library stamp suffix of the synthesis path


def check_csim_path(csim_path: str) -> str:
    """``csim_path`` if it names a C-sim path, else a one-line ConfigError."""
    if csim_path not in CSIM_PATHS:
        raise ConfigError(f"C-sim path {csim_path!r} is not one of {', '.join(CSIM_PATHS)}", key="csim_path")
    return csim_path


def library_stamp(digest: str, csim_path: str = "fast") -> str:
    """The stamp ``build_lib.sh`` names the library with: the digest, plus ``-synthesis`` on that path."""
    return digest + (SYNTHESIS_SUFFIX if check_csim_path(csim_path) == "synthesis" else "")


def source_files(project_dir: Path) -> list[Path]:
    """The files a C-sim build reads: the firmware sources and weights, the bridges and the build script."""
    firmware = [p for p in (project_dir / "firmware").rglob("*") if p.is_file() and p.suffix != ".so"]
    return sorted(firmware + list(project_dir.glob("*_bridge.cpp")) + [project_dir / BUILD_SCRIPT])


def source_digest(project_dir: Path) -> str:
    """SHA-256 over the build's sources (relative names and contents)."""
    h = hashlib.sha256()
    for path in source_files(project_dir):
        h.update(str(path.relative_to(project_dir)).encode() + b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()


def run_build(project_dir: Path, stamp: str | None = None, csim_path: str = "fast") -> None:
    """Run the project's ``build_lib.sh`` (library stamp ``stamp`` if given) on C-sim path ``csim_path``;
    output in ``build.log``."""
    check_csim_path(csim_path)
    if shutil.which("g++") is None:
        raise ToolMissingError("g++ is not on PATH; C-simulation compiles the project with it")
    script = project_dir / BUILD_SCRIPT
    if not script.is_file():
        raise ToolFailedError(f"'{script}' is missing; convert the model again", command=str(script))
    if csim_path != "fast" and CSIM_PATH_ENV not in script.read_text(errors="replace"):
        raise DataError(f"'{script}' cannot build the {csim_path} C-sim path (it predates it); convert the model "
                        "again")
    log = project_dir / BUILD_LOG
    env = dict(os.environ, **({STAMP_ENV: stamp} if stamp else {}), **{CSIM_PATH_ENV: csim_path})
    with open(log, "w") as out:
        rc = subprocess.run(["bash", BUILD_SCRIPT], cwd=project_dir, stdout=out, stderr=subprocess.STDOUT,
                            env=env).returncode
    if rc != 0:
        last = [line for line in log.read_text(errors="replace").splitlines() if line.strip()][-1:] or [""]
        raise ToolFailedError(f"building the C-simulation library failed: 'bash {BUILD_SCRIPT}' in '{project_dir}' "
                              f"exited with {rc} ({last[0][:160]}); full output in {log}",
                              command=f"bash {BUILD_SCRIPT}", log=str(log))


def _writable(project_dir: Path) -> bool:
    return all(os.access(p, os.W_OK) for p in (project_dir, project_dir / "firmware"))


def _cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path(tempfile.gettempdir()) / f"arith4ml-csim-{os.getuid()}")


def ensure_library(project_dir: str | os.PathLike, project_name: str, csim_path: str = "fast") -> tuple[Path, bool]:
    """The C-sim library of the project as it is on disk, built on ``csim_path`` if needed; returns (path,
    built now).

    Old libraries of the same project and path (other digests) are removed when a new one is built in place;
    the other path's library is kept.
    """
    project_dir = Path(project_dir)
    digest = source_digest(project_dir)[:DIGEST_CHARS]
    stamp = library_stamp(digest, csim_path)
    build_dir = project_dir
    if not _writable(project_dir):
        build_dir = _cache_root() / digest
        if not (build_dir / BUILD_SCRIPT).is_file():
            staging = Path(tempfile.mkdtemp(prefix=f".{digest}.", dir=_mkdir(build_dir.parent)))
            shutil.copytree(project_dir, staging, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.so"))
            os.replace(staging, build_dir) if not build_dir.exists() else shutil.rmtree(staging)
    lib = build_dir / "firmware" / f"{project_name}-{stamp}.so"
    if lib.is_file():
        return lib, False
    run_build(build_dir, stamp=stamp, csim_path=csim_path)
    for old in (build_dir / "firmware").glob(f"{project_name}-*.so"):
        if old != lib and old.name.endswith(SYNTHESIS_SUFFIX + ".so") == (csim_path == "synthesis"):
            old.unlink(missing_ok=True)
    return lib, True


def compile_model(hm, csim_path: str = "fast") -> Path:
    """Build and load the C-sim library of the project ``hm`` was written to, on ``csim_path``; returns its path.

    hls4ml's ``hm.compile()`` builds the fast path; ``compile_model(hm, "synthesis")`` then lets ``hm.predict``
    run the branches Vitis HLS synthesises.  An existing project (``hm.config.get_output_dir()``) is compiled
    as it is on disk, nothing written into it but the library and ``build.log``; ``hm.write()`` runs first only
    when there is no project there yet.
    """
    check_csim_path(csim_path)
    project_dir = Path(hm.config.get_output_dir())
    if not (project_dir / BUILD_SCRIPT).is_file():
        hm.write()
    lib, _ = ensure_library(project_dir, hm.config.get_project_name(), csim_path)
    load_library(hm, lib)
    return lib


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def load_library(hm, lib: str | os.PathLike) -> None:
    """Load ``lib`` as ``hm``'s C-sim library (what ``hm.compile()`` would load after building)."""
    hm._top_function_lib = ctypes.cdll.LoadLibrary(str(lib))
