"""Input checks of the arithmetic references: find the first offending element and name it.

Every check raises :class:`~toolchain.errors.ArithValueError` naming what was checked, the index
of the first offending element (row-major order, as ``np.argwhere`` lists them) and its value,
so that a user can find it in their own array.  Nothing here changes a value.
"""
from __future__ import annotations

import numpy as np

from toolchain.errors import ArithValueError


def first_index(mask) -> tuple[int, ...] | None:
    """Index of the first true (non-zero) element of ``mask`` in row-major order, or None if there is none.

    ``()`` for a true 0-d mask, so that ``x[first_index(mask)]`` works for any shape.
    """
    m = np.asarray(mask, dtype=bool)
    if not m.any():
        return None
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(m)), m.shape))


def _where(idx: tuple[int, ...], vector: bool) -> str:
    """``(2, 1)``; ``3`` instead of ``(3,)`` for inputs that are vectors by definition."""
    return str(idx[0]) if vector and len(idx) == 1 else str(idx)


def require_finite(x: np.ndarray, what: str, hint: str = "only finite values are allowed", *,
                   vector: bool = False) -> None:
    """ArithValueError ``WHAT contains VALUE at index I; HINT`` at the first NaN or inf of the float array ``x``.

    ``vector=True`` writes a 1-D index as a plain number.
    """
    idx = first_index(~np.isfinite(x))
    if idx is not None:
        raise ArithValueError(f"{what} contains {x[idx]!r} at index {_where(idx, vector)}; {hint}")


def require_in_range(x: np.ndarray, lo, hi, what: str, expected: str | None = None, *, vector: bool = False) -> None:
    """ArithValueError ``WHAT holds VALUE at index I; expected EXPECTED`` at the first element outside ``[lo, hi]``.

    ``expected`` describes the allowed values (default ``values in [lo, hi]``).
    """
    idx = first_index((x < lo) | (x > hi))
    if idx is not None:
        expected = expected or f"values in [{lo}, {hi}]"
        raise ArithValueError(f"{what} holds {x[idx]!r} at index {_where(idx, vector)}; expected {expected}")


def require_integer_valued(x: np.ndarray, lo, hi, what: str, *, vector: bool = False) -> None:
    """ArithValueError at the first element of the float array ``x`` that is not an integer in ``lo..hi``.

    NaN and inf are not integers.  The message is the one of :func:`require_in_range`.
    """
    idx = first_index(~np.isfinite(x) | (x != np.floor(x)) | (x < lo) | (x > hi))
    if idx is not None:
        raise ArithValueError(f"{what} holds {x[idx]!r} at index {_where(idx, vector)}; "
                              f"expected integers in {lo}..{hi}")
