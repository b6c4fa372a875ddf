"""Resilience proxy, sweep points and multiplier energy of ``arith4ml explore`` (docs/explore.md).

**Units.** At *layer* granularity a unit is a layer; at *filter* granularity an output channel ``o``; at
*kernel* granularity an (output channel ``o``, input channel ``c``) pair (Dense: output x input).  Products
per inference of a unit: Dense filter ``n_in``, kernel 1; Conv2D kernel ``kh*kw*out_h*out_w``, filter
``kh*kw*c_in*out_h*out_w``; a layer the sum of its filters.

**Resilience proxy** (measured once, on the calibration split, for every ladder level ``l >= 1``):

1. *Injected error per kernel.*  With the calibration activations at each explored layer's input (8-bit codes
   of the all-exact model), the error that approximating only kernel ``(o, c)`` with ``ladder[l]`` adds to
   output ``o`` is ``d[n, o, c] = sum_taps (mult_l(x, w) - x * w)``; its mean square over the calibration
   samples and output positions is ``mse_l(o, c)``.  For ROUP it is exact from second moments, since
   ``mult_l(x, w) - x w = (x' - x) w' + x (w' - w)`` (``x'``, ``w'`` the rounded operands): per input channel,
   one ``(2T, 2T)`` moment matrix of ``[x' - x, x]`` over the ``T = kh*kw`` taps for each distinct ``m``.  Table
   multipliers are gathered directly.
2. *Normalised* by the output channel's spread: ``e_l(o, c) = mse_l(o, c) / var(y_o)``, ``y_o`` the exact
   accumulator of output ``o`` on the calibration split (floored at 1e-3 of the layer's mean variance).
3. *Layer sensitivity, measured:* ``D_l(L)`` = mean over calibration samples of ``sum_k (p_k - p*_k)^2``, the
   squared change of the model's outputs when layer ``L`` alone runs entirely on ``ladder[l]`` (every other
   layer exact).  The layer's measured distortion is shared out over its kernels in proportion to their
   normalised error: ``score_l(o, c) = D_l(L) * e_l(o, c) / sum_{o',c'} e_l(o', c')``.  A filter's score is the
   sum over its kernels, a layer's is ``D_l(L)``.

**A point** ``(granularity g, level l, fraction f)``: the units of ``g`` are ranked by ``score_l(u) /
products(u)`` (least distortion per multiplication first; ties by layer order, then unit index); the shortest
prefix holding at least ``f`` of all explored products is approximated, graded along the ladder: the first
``1/l`` of its products get ``ladder[l]``, the next ``1/l`` ``ladder[l-1]``, ..., the last ``ladder[1]`` (the
most resilient units get the most aggressive multiplier); every other unit keeps ``ladder[0]``.

**Energy** (``toolchain.energy``): a point's multiplier energy per inference is ``sum_units products(u) *
multiplier_energy(mult(u))`` over every Dense/Conv2D layer (unexplored layers exact); saving =
``1 - energy / (all products * exact_multiplier_energy())``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from toolchain.arith import approx as ax

DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"  # ladder index -> one character of the assignment column
_ROWS = 1 << 14  # calibration rows (sample x output position) per block of the moment sums


@dataclass(frozen=True)
class LayerShape:
    """A Dense/Conv2D layer as the sweep sees it."""

    name: str
    n_out: int
    n_in: int  # input channels (Dense: inputs)
    taps: int  # kh * kw (Dense: 1)
    positions: int  # out_h * out_w (Dense: 1)
    explored: bool = True

    @property
    def kernel_products(self) -> int:
        """Products per inference of one (output, input) channel pair."""
        return self.taps * self.positions

    @property
    def products(self) -> int:
        return self.n_out * self.n_in * self.kernel_products

    def unit_shape(self, granularity: str) -> tuple[int, ...]:
        return {"layer": (), "filter": (self.n_out,), "kernel": (self.n_out, self.n_in)}[granularity]

    def unit_products(self, granularity: str) -> np.ndarray:
        """Products per inference of each unit, an int64 array of :meth:`unit_shape`."""
        per = {"layer": self.products, "filter": self.n_in * self.kernel_products,
               "kernel": self.kernel_products}[granularity]
        return np.full(self.unit_shape(granularity), per, dtype=np.int64)


def layer_shapes(amodel, targets: tuple[str, ...]) -> list[LayerShape]:
    """Every ApproxDense/ApproxConv2D layer of ``amodel`` in model order (``explored`` when named in ``targets``)."""
    out = []
    for lyr in amodel.layers:
        if type(lyr).__name__ not in ("ApproxDense", "ApproxConv2D"):
            continue
        k = lyr.kernel.shape
        if len(k) == 4:
            oh, ow = (int(v) for v in lyr.output_shape[1:3])
            out.append(LayerShape(lyr.name, int(k[3]), int(k[2]), int(k[0]) * int(k[1]), oh * ow, lyr.name in targets))
        else:
            out.append(LayerShape(lyr.name, int(k[1]), int(k[0]), 1, 1, lyr.name in targets))
    return out


# --------------------------------------------------------------------------- resilience proxy

def _patch_blocks(x: np.ndarray, kh: int, kw: int, strides: tuple[int, int], padding: str):
    """Blocks of patches ``(rows, T, C)`` (float64 codes, rows = samples x output positions) of a convolution."""
    if padding == "same":
        h, w = x.shape[1:3]
        oh, ow = -(-h // strides[0]), -(-w // strides[1])
        ph, pw = max((oh - 1) * strides[0] + kh - h, 0), max((ow - 1) * strides[1] + kw - w, 0)
        x = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::strides[0], ::strides[1]]
    per_sample = win.shape[1] * win.shape[2]
    step = max(1, _ROWS // max(per_sample, 1))
    c = x.shape[3]
    for b0 in range(0, x.shape[0], step):
        blk = win[b0:b0 + step]  # (b, oh, ow, C, kh, kw)
        yield blk.reshape(-1, c, kh * kw).transpose(0, 2, 1).astype(np.float64)


def kernel_errors(x_codes: np.ndarray, w_codes: np.ndarray, ladder: tuple[ax.Multiplier, ...],
                  strides: tuple[int, int] = (1, 1), padding: str = "valid") -> dict[int, np.ndarray]:
    """``{level: e_l}`` for levels ``1..len(ladder)-1``: ``e_l[o, c]`` = mean square of the error that
    ``ladder[l]`` on kernel (o, c) alone adds to output o, over the calibration rows, divided by var(y_o).

    ``x_codes``: (batch, H, W, C) or (batch, n_in) 8-bit activation codes; ``w_codes``: (kh, kw, C, O) or
    (n_in, O) 8-bit weight codes (Keras layouts).
    """
    if x_codes.ndim == 2:
        x_codes, w_codes = x_codes[:, None, None, :], w_codes[None, None, :, :]
    kh, kw, c_in, c_out = w_codes.shape
    t = kh * kw
    w = w_codes.reshape(t, c_in, c_out).astype(np.int64)
    w_flat = w.transpose(1, 0, 2).reshape(c_in * t, c_out).astype(np.float64)  # patch order (C, T)
    levels = range(1, len(ladder))
    ms = sorted({ladder[lv].m for lv in levels if isinstance(ladder[lv], ax.ROUPMultiplier)})
    moments = {m: np.zeros((c_in, 2 * t, 2 * t)) for m in ms}
    tables = {lv: ladder[lv].table - _exact_table() for lv in levels if not isinstance(ladder[lv], ax.ROUPMultiplier)}
    table_sq = {lv: np.zeros((c_out, c_in)) for lv in tables}
    y_sum, y_sq, rows = np.zeros(c_out), np.zeros(c_out), 0
    for p in _patch_blocks(x_codes, kh, kw, strides, padding):  # (n, T, C)
        rows += p.shape[0]
        y = p.transpose(0, 2, 1).reshape(p.shape[0], c_in * t) @ w_flat
        y_sum += y.sum(axis=0)
        y_sq += (y * y).sum(axis=0)
        pi = p.astype(np.int64)
        for m in ms:
            z = np.concatenate([ax._round_at(pi, m) - pi, pi], axis=1).astype(np.float64)  # (n, 2T, C)
            moments[m] += np.einsum("nac,nbc->cab", z, z, optimize=True)
        for lv, err in tables.items():
            for c in range(c_in):
                d = err[pi[:, :, c, None] + 128, w[None, :, c, :] + 128].sum(axis=1)  # (n, O)
                table_sq[lv][:, c] += (d.astype(np.float64) ** 2).sum(axis=0)
    var = np.maximum(y_sq / rows - (y_sum / rows) ** 2, 0.0)
    var = np.maximum(var, max(1e-3 * float(var.mean()), 1e-12)) if var.any() else np.ones_like(var)
    out = {}
    for lv in levels:
        mult = ladder[lv]
        if isinstance(mult, ax.ROUPMultiplier):
            wr = ax._round_at(w, 2 * mult.k)
            v = np.concatenate([wr, wr - w], axis=0).transpose(1, 0, 2).astype(np.float64)  # (C, 2T, O)
            mse = np.einsum("cao,cab,cbo->oc", v, moments[mult.m] / rows, v, optimize=True)
        else:
            mse = table_sq[lv] / rows
        out[lv] = np.maximum(mse, 0.0) / var[:, None]
    return out


def _exact_table() -> np.ndarray:
    grid = np.arange(ax.A_MIN, ax.A_MAX + 1, dtype=np.int64)
    return grid[:, None] * grid[None, :]


@dataclass
class Resilience:
    """The measured proxy: ``errors[level][layer]`` = e_l (n_out, n_in); ``distortion[level][layer]`` = D_l(L)."""

    errors: dict[int, dict[str, np.ndarray]]
    distortion: dict[int, dict[str, float]]

    def scores(self, shape: LayerShape, granularity: str, level: int) -> np.ndarray:
        """score_l of every unit of ``shape`` at ``granularity`` (array of its unit shape)."""
        e = self.errors[level][shape.name]
        d = self.distortion[level][shape.name]
        total = float(e.sum())
        share = e / total if total > 0 else np.full(e.shape, 1.0 / e.size)
        if granularity == "layer":
            return np.asarray(d)
        return d * (share.sum(axis=1) if granularity == "filter" else share)


def measure_resilience(evaluator, shapes: list[LayerShape], progress=None) -> Resilience:
    """The proxy of the module docstring for every explored layer and ladder level (calibration split only)."""
    import tensorflow as tf

    ev = evaluator
    explored = [s for s in shapes if s.explored]
    ev.apply({})
    probe = tf.keras.Model(ev.amodel.inputs, [ev.layers[s.name].input for s in explored])
    inputs = probe.predict(ev.calib_x, batch_size=256, verbose=0)
    inputs = [inputs] if len(explored) == 1 else inputs
    reference = ev.predict(ev.calib_x)
    levels = range(1, len(ev.ladder))
    errors: dict[int, dict[str, np.ndarray]] = {lv: {} for lv in levels}
    distortion: dict[int, dict[str, float]] = {lv: {} for lv in levels}
    for s, x in zip(explored, inputs):
        layer = ev.layers[s.name]
        conv = hasattr(layer, "strides")  # ApproxConv2D (ApproxDense has no strides)
        strides, padding = (tuple(layer.strides), layer.padding) if conv else ((1, 1), "valid")
        errs = kernel_errors(layer.input_codes(x), layer.weight_codes(), ev.ladder, strides, padding)
        for lv in levels:
            errors[lv][s.name] = errs[lv]
            ev.apply({s.name: np.asarray(lv)})
            diff = ev.predict(ev.calib_x).astype(np.float64) - reference
            distortion[lv][s.name] = float(np.mean(np.sum(diff.reshape(len(diff), -1) ** 2, axis=1)))
            if progress is not None:
                progress()
    ev.apply({})
    return Resilience(errors, distortion)


# --------------------------------------------------------------------------- points

@dataclass(frozen=True)
class Point:
    """One sweep point: its parameters and its assignment (ladder index arrays of the explored layers)."""

    id: int
    granularity: str  # layer | filter | kernel | exact (the all-exact baseline, id 0)
    level: int
    fraction: float
    index: dict  # layer name -> int array (unit shape of the granularity)
    approx_fraction: float  # share of all products not on ladder[0] / exact

    @property
    def assignment(self) -> str:
        return encode_assignment(self.index)


def plan_point(pid: int, shapes: list[LayerShape], res: Resilience, granularity: str, level: int,
               fraction: float) -> Point:
    """The point ``(granularity, level, fraction)`` of the module docstring."""
    explored = [s for s in shapes if s.explored]
    keys, prods, owner, flat = [], [], [], []
    for li, s in enumerate(explored):
        p = s.unit_products(granularity).reshape(-1)
        sc = np.asarray(res.scores(s, granularity, level), dtype=np.float64).reshape(-1)
        keys.append(sc / p)
        prods.append(p)
        owner.append(np.full(p.shape, li))
        flat.append(np.arange(p.size))
    keys_a, prods_a, owner_a, flat_a = (np.concatenate(v) for v in (keys, prods, owner, flat))
    order = np.lexsort((flat_a, owner_a, keys_a))  # last key first: score per product, then layer, then unit
    total = float(prods_a.sum())
    before = np.concatenate([[0], np.cumsum(prods_a[order])[:-1]]).astype(np.float64)
    target = fraction * total
    chosen = before < target * (1 - 1e-12)
    tier = np.floor(before / target * level).astype(np.int64)  # 0 = the most resilient share
    ladder_idx = np.where(chosen, level - np.minimum(tier, level - 1), 0)
    index = {s.name: np.zeros(s.unit_shape(granularity), dtype=np.int64) for s in explored}
    for pos, u in enumerate(order):
        index[explored[owner_a[u]].name].reshape(-1)[flat_a[u]] = ladder_idx[pos]
    approx = float(prods_a[order][ladder_idx > 0].sum()) / float(sum(s.products for s in shapes))
    return Point(pid, granularity, level, float(fraction), index, approx)


def baseline_point(shapes: list[LayerShape]) -> Point:
    """Point 0: every layer exact."""
    return Point(0, "exact", 0, 0.0, {}, 0.0)


def plan_sweep(shapes: list[LayerShape], res: Resilience, granularities, levels, fractions) -> list[Point]:
    """The baseline (id 0) then ``granularities x levels x fractions`` in that nesting order (ids 1..)."""
    points = [baseline_point(shapes)]
    for g in granularities:
        for lv in levels:
            for f in fractions:
                points.append(plan_point(len(points), shapes, res, g, lv, f))
    return points


# --------------------------------------------------------------------------- energy

def point_energy(point: Point, shapes: list[LayerShape], energies: list[float], exact: float) -> float:
    """Multiplier energy per inference (pJ) of ``point``: ``energies[i]`` is ``ladder[i]``'s pJ per product."""
    e = np.asarray(energies, dtype=np.float64)
    total = 0.0
    for s in shapes:
        if s.name not in point.index:
            total += s.products * exact
            continue
        idx = np.asarray(point.index[s.name])
        granularity = {0: "layer", 1: "filter", 2: "kernel"}[idx.ndim]
        total += float(np.sum(s.unit_products(granularity) * e[idx]))
    return total


# --------------------------------------------------------------------------- the assignment column

def encode_assignment(index: dict) -> str:
    """``name=DIGITS;...``: per explored layer its ladder indices, one base-36 character per unit, row-major
    (layer: 1 character, filter: n_out, kernel: n_out * n_in); empty for the all-exact baseline."""
    return ";".join(f"{name}=" + "".join(DIGITS[int(v)] for v in np.asarray(idx).reshape(-1))
                    for name, idx in index.items())


def decode_assignment(text: str, shapes: list[LayerShape], granularity: str) -> dict[str, np.ndarray]:
    """Inverse of :func:`encode_assignment` for layers of ``shapes`` at ``granularity``."""
    by_name = {s.name: s for s in shapes}
    out = {}
    for part in filter(None, text.split(";")):
        name, _, digits = part.rpartition("=")
        shape = by_name[name].unit_shape(granularity)
        out[name] = np.array([DIGITS.index(ch) for ch in digits], dtype=np.int64).reshape(shape)
    return out
