"""toolchain.arith.checks: the first offending element, its index and value, in one message."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis.extra import numpy as hnp

from toolchain.arith.checks import first_index, require_finite, require_in_range, require_integer_valued
from toolchain.errors import ArithValueError


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(np.bool_, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4)))
def test_first_index_is_the_first_row_of_argwhere(mask):
    rows = np.argwhere(mask)
    expected = tuple(int(i) for i in rows[0]) if len(rows) else None
    got = first_index(mask)
    assert got == expected
    if got is not None:
        assert all(type(i) is int for i in got) and mask[got]


def test_first_index_of_non_bool_masks_and_scalars():
    assert first_index(np.array([[0, 0], [0, 3]], dtype=np.int8)) == (1, 1)  # non-zero counts as true
    assert first_index(np.array(True)) == () and first_index(np.array(False)) is None
    assert first_index(np.zeros((0, 3), dtype=bool)) is None
    assert first_index([False, True]) == (1,)


def _message(fn, *args, **kwargs) -> str:
    with pytest.raises(ArithValueError) as info:
        fn(*args, **kwargs)
    return str(info.value)


def test_require_finite():
    x = np.array([[0.0, 1.0], [np.inf, np.nan]])
    assert _message(require_finite, x, "weights") == \
        "weights contains inf at index (1, 0); only finite values are allowed"
    assert _message(require_finite, np.array([1.0, np.nan]), "x", "ESSOP needs numbers", vector=True) == \
        "x contains nan at index 1; ESSOP needs numbers"
    require_finite(np.array([1.0, -2.0]), "x")
    require_finite(np.zeros((0,)), "x")


def test_require_in_range():
    x = np.array([3, -129, 128])
    assert _message(require_in_range, x, -128, 127, "codes", "integers in -128..127") == \
        "codes holds -129 at index (1,); expected integers in -128..127"
    assert _message(require_in_range, np.array([0.5, 1.5]), 0, 1, "magnitudes", vector=True) == \
        "magnitudes holds 1.5 at index 1; expected values in [0, 1]"
    require_in_range(np.array([-128, 127]), -128, 127, "codes")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 2.5, 128.0, -129.0])
def test_require_integer_valued_refuses(bad):
    x = np.array([[1.0, -3.0], [bad, 4.5]])
    message = _message(require_integer_valued, x, -128, 127, "operand")
    assert message == f"operand holds {x[1, 0]!r} at index (1, 0); expected integers in -128..127"


def test_require_integer_valued_accepts_whole_numbers():
    require_integer_valued(np.array([-128.0, 0.0, -0.0, 127.0]), -128, 127, "operand")
