"""How a dot-product layer's terms fold over ``ReuseFactor`` cycles (``Strategy: Resource``).

A layer has ``n_units x n_out`` terms per output pixel (``n_units`` is the patch length for most
kernels, the number of (N,k) groups for ``nk``).  With ``Strategy: Resource`` and ``ReuseFactor R``
the kernel computes ``n_units x n_out / R`` of them per cycle and shares that hardware over ``R``
cycles.  ``R`` must divide ``n_units x n_out`` (as in hls4ml); it factors as ``R = in_steps x out_steps``
with ``in_steps = gcd(R, n_units)`` and ``out_steps = R / in_steps``, which always divides ``n_out``
(for every prime p, v_p(R) <= v_p(n_units) + v_p(n_out)).  Fold step ``(ri, d)`` takes the units
``[ri*S, (ri+1)*S)`` and the outputs ``[d*T, (d+1)*T)`` with ``S = n_units / in_steps`` and
``T = n_out / out_steps``; the weight ROMs are written in fold order ``[ri][d][s][t]`` so that each
step reads one row of ``S x T`` words (a cyclic partition of factor ``S x T``).

``Strategy: Latency`` is one fold step holding every term (fully parallel, pipelined with
``II = ReuseFactor`` per output pixel as in hls4ml).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from toolchain.errors import UnsupportedError

STRATEGIES = ("latency", "resource")


@dataclass(frozen=True)
class Fold:
    """The fold of one layer: ``in_steps x out_steps`` cycles of ``fold_in x fold_out`` terms each."""

    n_units: int
    n_out: int
    in_steps: int = 1  # Ri: slices of the units
    out_steps: int = 1  # D: slices of the outputs

    @property
    def steps(self) -> int:
        """Cycles one output pixel's terms are shared over (1: fully parallel)."""
        return self.in_steps * self.out_steps

    @property
    def fold_in(self) -> int:
        """Units per fold step (S)."""
        return self.n_units // self.in_steps

    @property
    def fold_out(self) -> int:
        """Outputs per fold step (T)."""
        return self.n_out // self.out_steps

    @property
    def terms_per_step(self) -> int:
        return self.fold_in * self.fold_out


def valid_reuse_factors(n_units: int, n_out: int) -> list[int]:
    """Every ReuseFactor a Resource-strategy layer of ``n_units x n_out`` terms accepts (its divisors)."""
    total = n_units * n_out
    small = [d for d in range(1, math.isqrt(total) + 1) if total % d == 0]
    return sorted(set(small + [total // d for d in small]))


def nearest_valid(reuse: int, valid: list[int]) -> list[int]:
    """The valid values just below and above ``reuse`` (for error messages)."""
    below = [v for v in valid if v < reuse][-1:]
    above = [v for v in valid if v > reuse][:1]
    return below + above


def make_fold(layer: str, n_units: int, n_out: int, reuse: object, strategy: str) -> Fold:
    """The fold of a layer for its ReuseFactor and Strategy; UnsupportedError naming the layer if ``reuse`` is
    not a positive integer or (Resource) does not divide ``n_units x n_out``."""
    total = n_units * n_out
    if isinstance(reuse, bool) or not isinstance(reuse, (int, np.integer)) or reuse < 1:
        raise UnsupportedError(f"layer {layer}: ReuseFactor {reuse!r} must be a positive integer", layer=layer,
                               key="ReuseFactor")
    reuse = int(reuse)
    strategy = str(strategy).lower()
    if strategy not in STRATEGIES:
        raise UnsupportedError(f"layer {layer}: Strategy {strategy!r} is not supported by arith4ml kernels; choose "
                               "Latency or Resource", layer=layer, key="Strategy")
    if reuse > total or total % reuse:
        valid = valid_reuse_factors(n_units, n_out)
        near = " or ".join(str(v) for v in nearest_valid(reuse, valid))
        raise UnsupportedError(f"layer {layer}: ReuseFactor {reuse} does not divide the layer's {n_units} x {n_out} "
                               f"= {total} terms per output pixel; nearest valid: {near}", layer=layer,
                               key="ReuseFactor")
    if strategy == "latency":
        return Fold(n_units, n_out)
    in_steps = math.gcd(reuse, n_units)
    return Fold(n_units, n_out, in_steps=in_steps, out_steps=reuse // in_steps)


def fold_order(array: np.ndarray, fold: Fold) -> np.ndarray:
    """``array`` (..., n_units, n_out) reordered to fold order (..., in_steps, out_steps, fold_in, fold_out)
    and flattened over the last two axes' blocks: element ``[ri][d][s][t]`` is ``array[..., ri*S+s, d*T+t]``."""
    lead = array.shape[:-2]
    blocks = array.reshape(lead + (fold.in_steps, fold.fold_in, fold.out_steps, fold.fold_out))
    order = tuple(range(len(lead))) + tuple(len(lead) + k for k in (0, 2, 1, 3))
    return blocks.transpose(order).reshape(lead + (fold.n_units, fold.n_out))
