"""Write files and directories so that a reader sees the old version or the new one, never half of one.

Everything is first written under a hidden name in the same directory (so the final
``os.replace`` / rename stays on one file system and is atomic) and renamed into place
only when complete.  Any exception, ``KeyboardInterrupt`` included, removes what was
staged and leaves the previous file or directory as it was.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from toolchain.errors import ConfigError


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


@contextmanager
def atomic_directory(out_dir: str | os.PathLike, may_replace: Callable[[Path], bool],
                     what: str = "output directory") -> Iterator[Path]:
    """A hidden staging directory beside ``out_dir`` that becomes ``out_dir`` when the block ends without an exception.

    ``may_replace(out_dir)`` is asked when the block starts and again just before the swap (the
    block may run for minutes) whenever ``out_dir`` exists; it returns whether that directory may be
    replaced, or raises :class:`ConfigError` saying why not.  A path that exists but is not a
    directory is never replaced.  A replaced directory is deleted only after the new one is in
    place; on failure it is put back.  Parent directories created for ``out_dir`` are removed
    again on failure (while empty).  ``what`` names the directory in messages.
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
        raise ConfigError(f"cannot create {what} '{out_dir}': {exc.strerror or exc}") from None
    old = None
    try:
        yield staging
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
