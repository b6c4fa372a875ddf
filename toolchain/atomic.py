"""Write files and directories so that a reader sees the old version or the new one, never half of one.

Everything is first written under a hidden name in the same directory (so the final
``os.replace`` / rename stays on one file system and is atomic) and renamed into place
only when complete.  Any exception, ``KeyboardInterrupt`` included, removes what was
staged and leaves the previous file or directory as it was.

A directory the tool writes carries a manifest (``.arith4ml-manifest.json``: every file
and its SHA-256).  Replacing such a directory is allowed only while it holds nothing but
those files, unchanged, and the files the tool itself adds later (``regenerated``
patterns such as ``report.json``): a user's own file placed inside it, or a generated
file the user edited, makes the replacement refuse with a message naming the file.
"""
from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from toolchain.errors import ConfigError, FileSystemError


def _umask() -> int:
    mask = os.umask(0)  # the only portable way to read it is to set it
    os.umask(mask)
    return mask


@contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "w", *, fsync: bool = False,
                encoding: str | None = "utf-8") -> Iterator[IO]:
    """An open temporary file beside ``path`` that replaces ``path`` when the block ends without an exception.

    ``mode`` is ``"w"`` (text, ``encoding``) or ``"wb"``.  The new file gets the permissions a plain
    ``open`` would give it (0666 less the umask).  ``fsync=True`` flushes it to the disk before the
    rename (for files that must survive a power cut, not just a crash of this process).
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_file mode must be 'w' or 'wb', not {mode!r}")
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as fh:
            os.fchmod(fh.fileno(), 0o666 & ~_umask())  # mkstemp makes it 0600
            yield fh
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike, text: str, *, fsync: bool = False) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through :func:`atomic_file`; returns the path."""
    with atomic_file(path, "w", fsync=fsync) as fh:
        fh.write(text)
    return Path(path)


MANIFEST = ".arith4ml-manifest.json"


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, hex."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _files(directory: Path) -> list[str]:
    """Relative POSIX names of the regular files (and links) under ``directory``, sorted."""
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*")
                  if (p.is_file() or p.is_symlink()) and not p.is_dir())


def write_manifest(directory: str | os.PathLike, tool: str) -> None:
    """Record every file under ``directory`` with its digest, as written by ``tool``."""
    directory = Path(directory)
    files = {name: file_digest(directory / name) for name in _files(directory) if name != MANIFEST}
    (directory / MANIFEST).write_text(json.dumps({"tool": tool, "files": files}, indent=1) + "\n")


def read_manifest(directory: str | os.PathLike) -> dict | None:
    """The manifest of ``directory`` (``{"tool": ..., "files": {name: digest}}``), or None if it has none."""
    try:
        data = json.loads((Path(directory) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    ok = isinstance(data, dict) and isinstance(data.get("files"), dict) and isinstance(data.get("tool"), str)
    return data if ok else None


def changed_files(directory: str | os.PathLike, regenerated: tuple[str, ...] = ()) -> tuple[list[str], list[str]]:
    """(files whose content differs from the manifest, files the manifest does not list) under ``directory``.

    Files matching a ``regenerated`` glob pattern (the tool's own later outputs) count as neither.
    """
    directory = Path(directory)
    manifest = read_manifest(directory) or {"files": {}}
    known = manifest["files"]
    edited, foreign = [], []
    for name in _files(directory):
        if name == MANIFEST or any(fnmatch.fnmatch(name, pattern) for pattern in regenerated):
            continue
        if name not in known:
            foreign.append(name)
        elif file_digest(directory / name) != known[name]:
            edited.append(name)
    return edited, foreign


def check_owned(directory: str | os.PathLike, tool: str, regenerated: tuple[str, ...] = (),
                what: str = "output directory") -> None:
    """ConfigError unless ``directory`` is empty or holds only files ``tool`` wrote there (unchanged) or
    ``regenerated`` ones."""
    directory = Path(directory)
    if not any(directory.iterdir()):
        return  # an empty directory holds nothing to lose
    manifest = read_manifest(directory)
    if manifest is None or manifest["tool"] != tool:
        raise ConfigError(f"{what} '{directory}' was not written by '{tool}' (no {MANIFEST}); refusing to replace "
                          "it: choose another output or remove it yourself")
    edited, foreign = changed_files(directory, regenerated)
    if foreign:
        raise ConfigError(f"{what} '{directory}' holds {_some(foreign)}, which '{tool}' did not write; refusing "
                          "to replace it: move your files out first")
    if edited:
        raise ConfigError(f"{what} '{directory}': {_some(edited)} changed since '{tool}' wrote it; refusing to "
                          "replace your edits: save them elsewhere first")


def _some(names: list[str]) -> str:
    """'a' or 'a' and N more, for messages."""
    return f"'{names[0]}'" + (f" and {len(names) - 1} more" if len(names) > 1 else "")


@contextmanager
def atomic_directory(out_dir: str | os.PathLike, may_replace: Callable[[Path], bool],
                     what: str = "output directory", manifest: str | None = None) -> Iterator[Path]:
    """A hidden staging directory beside ``out_dir`` that becomes ``out_dir`` when the block ends without an exception.

    ``may_replace(out_dir)`` is asked when the block starts and again just before the swap (the
    block may run for minutes) whenever ``out_dir`` exists; it returns whether that directory may be
    replaced, or raises :class:`ConfigError` saying why not.  A path that exists but is not a
    directory is never replaced.  A replaced directory is deleted only after the new one is in
    place; on failure it is put back.  Parent directories created for ``out_dir`` are removed
    again on failure (while empty).  ``what`` names the directory in messages.  With ``manifest``
    (the tool's name), the finished directory gets a manifest of its files (see :func:`check_owned`).
    """
    out = Path(out_dir)
    _check_replaceable(out, may_replace, what)
    created = [p for p in [out.parent, *out.parent.parents] if not p.exists()]  # innermost first
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
        os.chmod(staging, 0o777 & ~_umask())  # mkdtemp makes it 0700; a plain mkdir would not
    except OSError as exc:
        _remove_empty(created)
        raise FileSystemError.from_os_error(exc, f"cannot create {what}") from None
    old = None
    try:
        yield staging
        if manifest is not None:
            write_manifest(staging, manifest)
        _check_replaceable(out, may_replace, what)
        if out.exists() or out.is_symlink():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
            os.replace(out, old / "previous")
        os.rename(staging, out)
    except BaseException:
        if old is not None and (old / "previous").exists() and not (out.exists() or out.is_symlink()):
            os.replace(old / "previous", out)  # put the previous directory back
        shutil.rmtree(staging, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        _remove_empty(created)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _check_replaceable(out: Path, may_replace: Callable[[Path], bool], what: str) -> None:
    if not (out.exists() or out.is_symlink()):
        return
    if not out.is_dir():
        raise ConfigError(f"{what} '{out}' exists and is not a directory; refusing to replace it")
    if not may_replace(out):
        raise ConfigError(f"{what} '{out}' exists and may not be replaced; choose another one or remove it")


def _remove_empty(created: list[Path]) -> None:
    """Remove directories this module created (innermost first) while they are empty."""
    for p in created:
        try:
            p.rmdir()
        except OSError:
            break
