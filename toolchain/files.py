"""Files in and out: a user's input file (one check, one message for a path that is missing, a directory or
unreadable) and a Keras model written as HDF5."""
from __future__ import annotations

import io
import os
from pathlib import Path

from toolchain.errors import Arith4mlError


def read_input_bytes(path: str | os.PathLike, what: str, error: type[Arith4mlError]) -> bytes:
    """The bytes of the file ``path``; ``error`` ("{what} 'PATH' does not exist / is not a file / cannot be read")."""
    p = Path(path)
    if not p.exists():
        raise error(f"{what} '{path}' does not exist")
    if not p.is_file():
        raise error(f"{what} '{path}' is not a file")
    try:
        return p.read_bytes()
    except OSError as exc:
        raise error(f"{what} '{path}' cannot be read: {exc.strerror or exc}") from None


def save_keras_h5(model, path: str | os.PathLike) -> None:
    """Write ``model`` as a Keras HDF5 file (what ``model.save(path)`` writes for ``.h5``; it reloads with the
    QKeras custom objects, which ``.keras`` files do not).

    The file is built in memory and written with one plain write: h5py writing to a full disk raises from
    its destructors, prints tracebacks and can crash the interpreter, whereas this write fails with an
    ordinary ``OSError`` (ENOSPC) that the CLI reports in one line.
    """
    import h5py
    from keras.src.saving.legacy import hdf5_format

    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        hdf5_format.save_model_to_hdf5(model, h5)
    Path(path).write_bytes(buffer.getvalue())
