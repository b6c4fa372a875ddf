"""How ReuseFactor folds a layer (toolchain/kernels/fold.py), against definitions written out here."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from toolchain.errors import UnsupportedError
from toolchain.kernels.fold import Fold, fold_order, make_fold, nearest_valid, valid_reuse_factors

SHAPES = [(1, 1), (7, 19), (18, 3), (27, 2), (84, 3), (9, 16), (576, 64), (12, 10), (5, 25)]


@pytest.mark.parametrize("n_units, n_out", SHAPES)
def test_valid_reuse_factors_are_the_divisors(n_units, n_out):
    total = n_units * n_out
    assert valid_reuse_factors(n_units, n_out) == [r for r in range(1, total + 1) if total % r == 0]


@pytest.mark.parametrize("n_units, n_out", SHAPES)
def test_every_divisor_folds_into_whole_slices(n_units, n_out):
    """R = in_steps x out_steps with in_steps | n_units and out_steps | n_out, for every divisor R."""
    for reuse in valid_reuse_factors(n_units, n_out):
        fold = make_fold("L", n_units, n_out, reuse, "Resource")
        assert fold.steps == reuse and fold.in_steps * fold.out_steps == reuse
        assert n_units % fold.in_steps == 0 and n_out % fold.out_steps == 0
        assert fold.terms_per_step * reuse == n_units * n_out
        assert fold.in_steps == np.gcd(reuse, n_units)  # fold the inputs first, as hls4ml's Resource dense does


def test_latency_is_one_step_whatever_the_reuse_factor():
    assert make_fold("L", 18, 3, 6, "Latency") == Fold(18, 3)
    assert make_fold("L", 18, 3, 6, "latency").steps == 1


@pytest.mark.parametrize("n_units, n_out, reuse", [(18, 3, 54), (7, 19, 19), (12, 10, 8), (84, 3, 36), (5, 25, 5)])
def test_fold_order_puts_each_step_in_one_row(n_units, n_out, reuse):
    """Element [ri][d][s][t] of the ROM is weight (ri*S + s, d*T + t); step ri*D + d reads one row of S*T words."""
    fold = make_fold("L", n_units, n_out, reuse, "Resource")
    rng = np.random.default_rng(n_units * n_out)
    w = rng.integers(-100, 100, (2, n_units, n_out))
    rom = fold_order(w, fold).reshape(2, -1)
    s_, t_ = fold.fold_in, fold.fold_out
    for lead, ri, d, s, t in itertools.product(range(2), range(fold.in_steps), range(fold.out_steps), range(s_),
                                               range(t_)):
        k = ((ri * fold.out_steps + d) * s_ + s) * t_ + t
        assert rom[lead, k] == w[lead, ri * s_ + s, d * t_ + t]
    assert sorted(rom.ravel()) == sorted(w.ravel())


def test_one_step_keeps_the_natural_order():
    w = np.arange(12).reshape(4, 3)
    assert np.array_equal(fold_order(w, Fold(4, 3)), w)


@pytest.mark.parametrize("reuse, message", [
    (5, "layer c0: ReuseFactor 5 does not divide the layer's 18 x 3 = 54 terms per output pixel; nearest valid: "
        "3 or 6"),
    (55, "layer c0: ReuseFactor 55 does not divide the layer's 18 x 3 = 54 terms per output pixel; nearest valid: "
         "54"),
    (0, "layer c0: ReuseFactor 0 must be a positive integer"),
    (2.5, "layer c0: ReuseFactor 2.5 must be a positive integer"),
    (True, "layer c0: ReuseFactor True must be a positive integer"),
    ("4", "layer c0: ReuseFactor '4' must be a positive integer"),
])
def test_bad_reuse_factors_are_refused_by_name(reuse, message):
    with pytest.raises(UnsupportedError) as err:
        make_fold("c0", 18, 3, reuse, "Resource")
    assert str(err.value) == message and err.value.layer == "c0" and err.value.key == "ReuseFactor"


def test_unknown_strategy_is_refused():
    with pytest.raises(UnsupportedError, match="Strategy 'distributed_arithmetic' is not supported") as err:
        make_fold("c0", 18, 3, 1, "distributed_arithmetic")
    assert err.value.key == "Strategy"


def test_nearest_valid():
    valid = valid_reuse_factors(18, 3)
    assert nearest_valid(4, valid) == [3, 6] and nearest_valid(100, valid) == [54]
