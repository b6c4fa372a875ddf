"""toolchain.atomic: a failure or an interrupt at any point leaves the old file or directory and nothing else."""
from __future__ import annotations

import os
import stat

import pytest

from toolchain.atomic import atomic_directory, atomic_file, write_text_atomic
from toolchain.errors import ConfigError


class Boom(Exception):
    pass


def _entries(d) -> list[str]:
    return sorted(p.name for p in d.iterdir())


def _always(path) -> bool:
    return True


def _previous(tmp_path):
    """An output directory from an earlier run, holding old.txt."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    return out


# ----------------------------------------------------------------------------- files

def test_write_text_atomic_creates_and_replaces(tmp_path):
    p = tmp_path / "r.json"
    assert write_text_atomic(p, "one\n") == p and p.read_text() == "one\n"
    write_text_atomic(p, "twö\n", fsync=True)
    assert p.read_text(encoding="utf-8") == "twö\n" and _entries(tmp_path) == ["r.json"]


def test_atomic_file_gets_the_mode_of_a_plain_open(tmp_path):
    write_text_atomic(tmp_path / "a", "x")
    (tmp_path / "b").write_text("x")
    assert stat.S_IMODE(os.stat(tmp_path / "a").st_mode) == stat.S_IMODE(os.stat(tmp_path / "b").st_mode)


@pytest.mark.parametrize("exc", [Boom, KeyboardInterrupt])
def test_atomic_file_failure_keeps_the_old_file(tmp_path, exc):
    p = tmp_path / "t.bin"
    p.write_bytes(b"old")
    with pytest.raises(exc):
        with atomic_file(p, "wb") as fh:
            fh.write(b"new, half written")
            raise exc()
    assert p.read_bytes() == b"old" and _entries(tmp_path) == ["t.bin"]


def test_atomic_file_failure_leaves_nothing_new(tmp_path):
    with pytest.raises(Boom):
        with atomic_file(tmp_path / "new.txt") as fh:
            fh.write("x")
            raise Boom()
    assert _entries(tmp_path) == []


# ----------------------------------------------------------------------------- directories

def test_directory_appears_complete(tmp_path):
    out = tmp_path / "a" / "b" / "out"
    with atomic_directory(out, _always) as stage:
        assert stage.parent == out.parent and stage.name.startswith(".out.") and not out.exists()
        (stage / "f.txt").write_text("1")
    assert _entries(out) == ["f.txt"] and _entries(out.parent) == ["out"]
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    assert stat.S_IMODE(out.stat().st_mode) == stat.S_IMODE(fresh.stat().st_mode)  # like a plain mkdir


@pytest.mark.parametrize("exc", [Boom, KeyboardInterrupt])
def test_failure_midway_leaves_nothing_not_even_parents(tmp_path, exc):
    out = tmp_path / "new" / "deeper" / "out"
    with pytest.raises(exc):
        with atomic_directory(out, _always) as stage:
            (stage / "half.txt").write_text("half")
            raise exc()
    assert _entries(tmp_path) == []


@pytest.mark.parametrize("exc", [Boom, KeyboardInterrupt])
def test_failure_keeps_the_previous_directory(tmp_path, exc):
    out = _previous(tmp_path)
    with pytest.raises(exc):
        with atomic_directory(out, _always) as stage:
            (stage / "new.txt").write_text("new")
            raise exc()
    assert _entries(out) == ["old.txt"] and _entries(tmp_path) == ["out"]


def test_replaces_a_directory_it_may_replace(tmp_path):
    out = _previous(tmp_path)
    asked = []
    with atomic_directory(out, lambda p: asked.append(p) or True) as stage:
        (stage / "new.txt").write_text("new")
    assert _entries(out) == ["new.txt"] and _entries(tmp_path) == ["out"]
    assert asked == [out, out]  # before the block and again before the swap


def test_previous_directory_restored_when_the_swap_fails(tmp_path):
    """The rename of the staging directory fails after the old one was moved aside: the old one comes back."""
    out = _previous(tmp_path)
    with pytest.raises(OSError):
        with atomic_directory(out, _always) as stage:
            (stage / "new.txt").write_text("new")
            os.rename(stage, tmp_path / "elsewhere")  # the rename into place cannot find it
    assert _entries(out) == ["old.txt"]
    assert _entries(tmp_path) == ["elsewhere", "out"]


def test_refuses_what_may_replace_rejects(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    with pytest.raises(ConfigError, match="mine.*may not be replaced"):
        with atomic_directory(out, lambda p: False, "project directory"):
            raise AssertionError("the block must not run")
    assert _entries(out) == ["thesis.tex"] and _entries(tmp_path) == ["mine"]


def test_a_reason_raised_by_may_replace_is_kept(tmp_path):
    (tmp_path / "out").mkdir()

    def refuse(path):
        raise ConfigError(f"{path.name} holds somebody else's files")

    with pytest.raises(ConfigError, match="out holds somebody else's files"):
        with atomic_directory(tmp_path / "out", refuse):
            pass


def test_directory_that_appears_meanwhile_is_checked_again(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match="may not be replaced"):
        with atomic_directory(out, lambda p: False) as stage:
            (stage / "new.txt").write_text("new")
            out.mkdir()
            (out / "theirs.txt").write_text("theirs")
    assert _entries(out) == ["theirs.txt"] and _entries(tmp_path) == ["out"]


def test_never_replaces_a_file(tmp_path):
    (tmp_path / "out").write_text("a file")
    with pytest.raises(ConfigError, match="not a directory"):
        with atomic_directory(tmp_path / "out", _always):
            pass
    assert (tmp_path / "out").read_text() == "a file"


def test_parent_that_cannot_be_created(tmp_path):
    """A file where a parent directory should be: a file-system error (exit 5) naming the path."""
    from toolchain.errors import FileSystemError

    (tmp_path / "file").write_text("x")
    with pytest.raises(FileSystemError, match="cannot create output directory '.*file"):
        with atomic_directory(tmp_path / "file" / "out", _always):
            pass
    assert _entries(tmp_path) == ["file"]
