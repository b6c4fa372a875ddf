"""Integer-exact Python forward pass of a model converted by an arith4ml backend (Bitshift, RNS, Approx).

This is the oracle for C-simulation: it recomputes every layer on integer codes
with ``toolchain.arith`` (input quantization with the input type's rounding and
overflow, every accumulator, every result type) and never calls the C++.

``predict(hls_model, X)`` returns float64 values of the output codes; C-sim's
batch ``predict`` returns the same values bit for bit.  Two paths compute the
same integers:

* the fast path (default): codes are held as float64 wherever their type fits
  53 bits (int64 otherwise), Dense/Conv layers are exact matrix products
  (``Kernel.fast_accumulate``: float64 BLAS while every partial sum stays below
  2**53, int64 beyond), im2col is a strided view, and requantization, BatchNorm,
  Add and pooling are vectorised in place (``toolchain.arith.fastfixed``); the
  batch runs in chunks small enough to keep the temporaries in cache;
* the per-term path (``per_term=True``): int64 codes, every kernel's own
  ``accumulate`` (term by term, the way the C++ adds them) and
  ``fixed.requantize``: slow and obviously correct, the oracle the fast path is
  tested against (tests/test_reference_fast.py).
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided
from threadpoolctl import ThreadpoolController

from toolchain.arith import fastfixed, fixed
from toolchain.arith.fixed import FixedType
from toolchain.errors import DataError, UnsupportedError
from toolchain.kernels.plan import DotPlan, Geometry

Codes = np.ndarray  # fast path: float64 codes where the type fits float64 (fastfixed.type_fits_float), else int64
LayerFn = Callable[[list[np.ndarray]], np.ndarray]  # input codes of one layer -> its output codes

# Values per chunk of the batch in the largest temporary of a layer (im2col columns, outputs): 2**17
# float64 values are 1 MiB, so a chunk's temporaries stay in the caches and are reused by the allocator
# instead of being mapped afresh; but at least MIN_CHUNK samples, so a wide layer (a CNN's im2col
# columns) does not pay NumPy's per-call overhead on a handful of samples.
CHUNK_VALUES = 1 << 17
MIN_CHUNK = 256  # samples


def predict(hls_model, X: np.ndarray, per_term: bool = False, threads: int | None = None) -> np.ndarray:
    """Exact outputs (float64, shape (n, n_out)) of ``hls_model`` for raw float inputs ``X``.

    ``per_term=True`` computes every dot product term by term as its kernel's C++ does (slow: the
    oracle of the default fast path, which gives the same values).  ``threads``: chunks of the batch
    run on that many threads, each with a one-thread BLAS (NumPy and BLAS release the GIL; default as for
    C-sim: ``$ARITH4ML_THREADS``, else every core); samples are independent, so the result does not
    depend on it.
    """
    from toolchain.backends.backend import check_input, thread_count  # hls4ml import kept out of module import

    in_vars, out_vars = hls_model.get_input_variables(), hls_model.get_output_variables()
    if len(in_vars) != 1 or len(out_vars) != 1:
        raise UnsupportedError(f"the reference models single-input, single-output networks; this one has "
                               f"{len(in_vars)} inputs and {len(out_vars)} outputs")
    x = check_input(X, int(in_vars[0].size()), in_vars[0].shape)
    steps, types = _program(hls_model, per_term)
    out_name = hls_model.outputs[0]  # node-output names, as node.outputs uses
    codes = _run_batch(steps, x, (out_name,), thread_count(threads))[out_name]
    # + 0.0: a zero code computed in float64 may be -0.0; the C++ returns +0.0 (and so does the int64 path)
    return fixed.to_float(codes, types[out_name]) + 0.0


def trace(hls_model, X: np.ndarray, threads: int | None = None) -> dict[str, np.ndarray]:
    """Every layer's exact output values (float64, shape (n, size)) by output name, as C-sim computes them:
    what hls4ml's ``trace`` gives for the C++, for comparing a converted model with Keras layer by layer.
    ``threads`` as for ``predict``."""
    from toolchain.backends.backend import check_input, thread_count

    in_vars = hls_model.get_input_variables()
    x = check_input(X, int(in_vars[0].size()), in_vars[0].shape)
    steps, types = _program(hls_model, False)
    codes = _run_batch(steps, x, tuple(types), thread_count(threads))
    return {name: fixed.to_float(np.asarray(codes[name], dtype=np.float64), types[name]) + 0.0 for name in types}


def _run_batch(steps: list[_Step], x: np.ndarray, keep: tuple[str, ...], n_threads: int) -> dict[str, np.ndarray]:
    """The tensors named in ``keep`` for the whole batch ``x``, run chunk by chunk on ``n_threads`` threads."""
    chunk = _chunk(steps)
    if n_threads > 1:  # at least one chunk per thread
        chunk = max(MIN_CHUNK, min(chunk, -(-x.shape[0] // n_threads)))
    starts = range(0, x.shape[0], chunk)

    def run(i: int) -> dict[str, np.ndarray]:
        return _run(steps, x[i:i + chunk], keep)

    # one BLAS thread per worker, so ``threads`` is what runs: OpenBLAS's own threads on top of ours
    # oversubscribe the cores, and they keep spinning after a call, slowing whatever runs next
    with _blas_threads().limit(limits=1, user_api="blas"):
        if n_threads > 1 and len(starts) > 1:
            with ThreadPoolExecutor(n_threads) as pool:
                parts = list(pool.map(run, starts))
        else:
            parts = [run(i) for i in starts]
    if len(parts) == 1:
        return parts[0]
    return {name: np.concatenate([p[name] for p in parts]) for name in keep}


def _chunk(steps: list[_Step]) -> int:
    """Samples per chunk of the batch."""
    return max(MIN_CHUNK, CHUNK_VALUES // max(s.width for s in steps))


@functools.cache
def _blas_threads() -> ThreadpoolController:
    """The process's thread pools (BLAS among them), found once: finding them costs a library scan."""
    return ThreadpoolController()


# ---- the program: one step per layer, built once, run per chunk -------------------------------------------


@dataclass
class _Step:
    inputs: tuple[str, ...]  # tensor names ('' is the raw input)
    outputs: tuple[str, ...]
    run: Callable[[list[np.ndarray]], list[np.ndarray]]
    width: int  # values per sample of its largest temporary (sizes the chunks)
    drop: tuple[str, ...] = ()  # tensors no later step reads


def _program(hls_model, per_term: bool) -> tuple[list[_Step], dict[str, FixedType]]:
    """The steps of ``hls_model`` in graph order and the type of every tensor, by name."""
    from toolchain.backends.hls_types import to_fixed

    def result_type(node, name: str | None = None) -> FixedType:
        return to_fixed(node.get_output_variable(name).type.precision, f"result of layer {node.name}")

    types: dict[str, FixedType] = {}
    sizes: dict[str, int] = {"": int(hls_model.get_input_variables()[0].size())}
    steps: list[_Step] = []
    for node in hls_model.get_layers():
        outputs = tuple(node.outputs)
        out_types = [result_type(node, name) for name in outputs]
        if node.class_name == "Input":
            fns, inputs = [_input_fn(out_types[0], per_term)], ("",)
        elif node.class_name == "Clone":  # io_stream: one copy of the input per consumer, each with its type
            inputs = tuple(node.inputs)
            fns = [_requant_fn(types[inputs[0]], t, per_term) for t in out_types]
        else:
            inputs = tuple(node.inputs)
            fns = [_layer_fn(node, [types[name] for name in inputs], out_types[0], per_term)]
        types.update(zip(outputs, out_types))
        sizes.update((name, int(node.get_output_variable(name).size())) for name in outputs)
        width = max([sizes[name] for name in inputs + outputs] + [_dot_width(node.get_attr("arith_plan"))])
        steps.append(_Step(inputs, outputs, lambda ins, fns=fns: [f(ins) for f in fns], width))
    needed = {hls_model.outputs[0]}
    for step in reversed(steps):  # drop each tensor after its last reader
        step.drop = tuple(name for name in step.inputs if name not in needed)
        needed.update(step.inputs)
    return steps, types


def _run(steps: list[_Step], x: np.ndarray, keep: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Run the steps on one chunk; returns the tensors named in ``keep`` (the others are dropped early)."""
    tensors: dict[str, np.ndarray] = {"": x}
    for step in steps:
        tensors.update(zip(step.outputs, step.run([tensors[name] for name in step.inputs])))
        for name in step.drop:
            if name not in keep:
                del tensors[name]
    return {name: tensors[name] for name in keep}


def _dot_width(plan: DotPlan | None) -> int:
    if plan is None:
        return 0
    g = plan.geometry
    return g.out_height * g.out_width * max(plan.n_in, plan.n_out)


def _layer_fn(node, in_types: list[FixedType], out_type: FixedType, per_term: bool) -> LayerFn:
    """The computation of one layer (codes of its inputs -> its output codes)."""
    cls = node.class_name
    plan = node.get_attr("arith_plan")
    xt = in_types[0]
    if plan is not None:
        return _dot_fn(plan, xt, out_type, per_term)
    if cls in ("Activation", "ReLU") and str(node.get_attr("activation")).lower() in ("relu", "linear"):
        return _requant_fn(xt, out_type, per_term, relu=str(node.get_attr("activation")).lower() == "relu")
    if cls in ("BatchNormalization", "ApplyAlpha"):
        return _batchnorm_fn(node, xt, out_type, per_term)
    if cls in ("Pooling1D", "Pooling2D", "GlobalPooling1D", "GlobalPooling2D"):
        return _pool_fn(node, xt, out_type, per_term)
    if cls == "Merge" and str(node.get_attr("op")).lower() == "add":
        return _add_fn(xt, in_types[1], out_type, per_term)
    if cls in ("Reshape", "Repack"):  # Repack: io_stream reshape
        return _requant_fn(xt, out_type, per_term)
    if cls in ("ZeroPadding1D", "ZeroPadding2D"):
        return _zero_pad_fn(node, xt, out_type, per_term)
    raise UnsupportedError(f"reference: layer {node.name} ({cls}) is not modelled")


# ---- code representation of the fast path ------------------------------------------------------------------


def _as_type(codes: np.ndarray, t: FixedType) -> Codes:
    """``codes`` (exact integers, within ``t``) in the fast path's representation of ``t``."""
    dtype = np.float64 if fastfixed.type_fits_float(t) else np.int64
    return codes if codes.dtype == dtype else codes.astype(dtype)


def _as_int(codes: np.ndarray) -> np.ndarray:
    return codes if codes.dtype == np.int64 else codes.astype(np.int64)


def _fits(frac_in: int, lo: int, hi: int, t: FixedType) -> bool:
    """True if codes in ``[lo, hi]`` with ``frac_in`` fractional bits are already codes of ``t`` (no-op cast)."""
    return frac_in == t.frac and t.min_code <= lo and hi <= t.max_code


def _requant(codes: Codes, frac_in: int, lo: int, hi: int, t: FixedType, owned: bool = False) -> Codes:
    """``fixed.requantize(codes, frac_in, t)`` for codes within ``[lo, hi]``, in ``t``'s representation.

    ``owned``: ``codes`` is a temporary that may be overwritten.
    """
    if _fits(frac_in, lo, hi, t):
        return _as_type(codes, t)
    if codes.dtype == np.float64 and fastfixed.type_fits_float(t):
        return fastfixed.requantize(codes, frac_in, t, inplace=owned)
    return _as_type(fixed.requantize(_as_int(codes), frac_in, t), t)


def _bounds(t: FixedType) -> tuple[int, int]:
    return t.min_code, t.max_code


def _max_abs(t: FixedType) -> int:
    return max(-t.min_code, t.max_code)


# ---- layers ----------------------------------------------------------------------------------------------


def _input_fn(t: FixedType, per_term: bool) -> LayerFn:
    if per_term or not fastfixed.type_fits_float(t):
        return lambda ins: fixed.quantize(ins[0], t)
    return lambda ins: fastfixed.quantize(ins[0], t)


def _requant_fn(xt: FixedType, t: FixedType, per_term: bool, relu: bool = False) -> LayerFn:
    """Assignment to ``t`` (Clone, Reshape, linear), after ``max(x, 0)`` with ``relu``."""
    if per_term:
        return lambda ins: fixed.requantize(np.maximum(ins[0], 0) if relu else ins[0], xt.frac, t)
    lo, hi = _bounds(xt)
    if relu and t.min_code == 0 and t.overflow in ("AP_SAT", "AP_SAT_SYM") and fastfixed.type_fits_float(t):
        # an unsigned saturating type clips negative values to 0 itself, and rounding keeps the order:
        # the same codes as with the max(x, 0) first, one pass less
        return lambda ins: _requant(ins[0], xt.frac, lo, hi, t)
    if relu:
        lo, hi = max(lo, 0), max(hi, 0)
        return lambda ins: _requant(np.maximum(ins[0], 0), xt.frac, lo, hi, t, owned=True)
    return lambda ins: _requant(ins[0], xt.frac, lo, hi, t)


def _dot_fn(plan: DotPlan, xt: FixedType, out_type: FixedType, per_term: bool) -> LayerFn:
    if xt != plan.x_type:
        raise DataError(f"reference: layer {plan.layer} planned for input {plan.x_type}, got {xt}")
    if per_term:
        return lambda ins: dot_layer(plan, ins[0], xt, out_type, per_term=True)
    bound, _ = fastfixed.dot_bound(plan.w_codes, xt.min_code, xt.max_code)
    single = max(bound, _max_abs(xt)) <= fastfixed.EXACT32  # float32 codes and BLAS are exact: use them
    return lambda ins: _dot_codes(plan, ins[0].astype(np.float32) if single else ins[0], out_type)


def _weight_codes(node, name: str) -> tuple[np.ndarray, int]:
    from toolchain.backends.hls_types import to_fixed

    var = node.get_weights(name)
    t = to_fixed(var.type.precision, f"{name} of layer {node.name}")
    return fixed.quantize(np.asarray(var.data, dtype=np.float64).reshape(-1), t), t.frac


def _batchnorm_fn(node, xt: FixedType, t: FixedType, per_term: bool) -> LayerFn:
    """``x*s + b`` exact on the grid ``max(x_frac + s_frac, b_frac)``, then assigned to ``t``; per channel
    (hls4ml: norm_index = i % n_filt, channels last)."""
    s, s_frac = _weight_codes(node, "scale")
    b, b_frac = _weight_codes(node, "bias")
    frac = max(xt.frac + s_frac, b_frac)

    def exact(ins: list[np.ndarray]) -> np.ndarray:  # the definition, int64
        x = _as_int(ins[0])
        idx = np.arange(x.shape[1]) % s.size
        val = ((x * s[idx]) << np.int64(frac - xt.frac - s_frac)) + (b[idx] << np.int64(frac - b_frac))
        return fixed.requantize(val, frac, t)

    if per_term:
        return exact
    bound = ((_max_abs(xt) * int(np.abs(s).max(initial=0))) << (frac - xt.frac - s_frac)) \
        + (int(np.abs(b).max(initial=0)) << (frac - b_frac))
    if bound > fastfixed.EXACT or not (fastfixed.type_fits_float(xt) and fastfixed.type_fits_float(t)):
        return lambda ins: _as_type(exact(ins), t)
    # x*s_f + b_f is the exact value in t's LSBs: integer numerators below 2**53, power-of-two scales
    s_f = s.astype(np.float64) * 2.0 ** (t.frac - xt.frac - s_frac)
    b_f = b.astype(np.float64) * 2.0 ** (t.frac - b_frac)

    def fast(ins: list[np.ndarray]) -> np.ndarray:
        x = ins[0]
        n = x.shape[0]
        if x.shape[1] % s.size:  # not whole channels: index as the definition does
            idx = np.arange(x.shape[1]) % s.size
            v = x * s_f[idx]
            v += b_f[idx]
        else:
            v = x.reshape(n, -1, s.size) * s_f
            v += b_f
        v = v.reshape(n, -1)
        if frac > t.frac:
            fastfixed.round_inplace(v, t.rounding)
        return fastfixed.overflow_inplace(v, t)

    return fast


def _add_fn(xt: FixedType, yt: FixedType, t: FixedType, per_term: bool) -> LayerFn:
    """Add: both inputs aligned to the finer grid, summed exactly, assigned to ``t``."""
    frac = max(xt.frac, yt.frac)

    def exact(ins: list[np.ndarray]) -> np.ndarray:
        x, y = _as_int(ins[0]), _as_int(ins[1])
        return fixed.requantize((x << np.int64(frac - xt.frac)) + (y << np.int64(frac - yt.frac)), frac, t)

    if per_term:
        return exact
    bound = (_max_abs(xt) << (frac - xt.frac)) + (_max_abs(yt) << (frac - yt.frac))
    if bound > fastfixed.EXACT or not all(fastfixed.type_fits_float(u) for u in (xt, yt, t)):
        return lambda ins: _as_type(exact(ins), t)
    ax, ay = 2.0 ** (t.frac - xt.frac), 2.0 ** (t.frac - yt.frac)

    def fast(ins: list[np.ndarray]) -> np.ndarray:
        v = np.multiply(ins[0], ax)
        v += ins[1] * ay if ay != 1.0 else ins[1]  # exact: the sum's numerator is below 2**53
        if frac > t.frac:
            fastfixed.round_inplace(v, t.rounding)
        return fastfixed.overflow_inplace(v, t)

    return fast


def _zero_pad(node, x: np.ndarray) -> np.ndarray:
    """Zero padding, channels last (hls4ml inserts it before 'same' convolutions in io_stream)."""
    g = node.get_attr
    if node.class_name == "ZeroPadding1D":
        in_h, in_w, pads = 1, int(g("in_width")), ((0, 0), (int(g("pad_left")), int(g("pad_right"))))
    else:
        in_h, in_w = int(g("in_height")), int(g("in_width"))
        pads = ((int(g("pad_top")), int(g("pad_bottom"))), (int(g("pad_left")), int(g("pad_right"))))
    if g("data_format", "channels_last") != "channels_last":
        raise UnsupportedError(f"reference: layer {node.name}: only channels_last zero padding is modelled")
    img = x.reshape(x.shape[0], in_h, in_w, int(g("n_chan")))
    return np.pad(img, ((0, 0), *pads, (0, 0))).reshape(x.shape[0], -1)


def _zero_pad_fn(node, xt: FixedType, t: FixedType, per_term: bool) -> LayerFn:
    if per_term:
        return lambda ins: fixed.requantize(_zero_pad(node, ins[0]), xt.frac, t)
    lo, hi = min(xt.min_code, 0), max(xt.max_code, 0)
    return lambda ins: _requant(_zero_pad(node, ins[0]), xt.frac, lo, hi, t, owned=True)


@dataclass(frozen=True)
class _PoolGeometry:
    in_h: int
    in_w: int
    chan: int
    pool: tuple[int, int]
    stride: tuple[int, int]
    out: tuple[int, int]
    op: str  # 'max' or 'average'

    def windows(self, x: np.ndarray) -> list[np.ndarray]:
        """One strided view (batch, out_h, out_w, chan) per position in the pooling window."""
        (ph, pw), (sh, sw), (oh, ow) = self.pool, self.stride, self.out
        img = x.reshape(-1, self.in_h, self.in_w, self.chan)
        return [img[:, dh:dh + sh * (oh - 1) + 1:sh, dw:dw + sw * (ow - 1) + 1:sw, :]
                for dh in range(ph) for dw in range(pw)]


def _pool_geometry(node) -> _PoolGeometry:
    g = node.get_attr
    cls = node.class_name
    c = int(g("n_filt"))
    if cls in ("Pooling1D", "GlobalPooling1D"):
        in_h, in_w = 1, int(g("n_in"))
    else:
        in_h, in_w = int(g("in_height")), int(g("in_width"))
    if cls.startswith("Global"):
        (ph, pw), (sh, sw), (oh, ow) = (in_h, in_w), (in_h, in_w), (1, 1)
    elif cls == "Pooling1D":
        ph, pw, sh, sw, oh, ow = 1, int(g("pool_width")), 1, int(g("stride_width")), 1, int(g("n_out"))
    else:
        ph, pw = int(g("pool_height")), int(g("pool_width"))
        sh, sw = int(g("stride_height")), int(g("stride_width"))
        oh, ow = int(g("out_height")), int(g("out_width"))
    pads = [int(g(k, 0) or 0) for k in ("pad_top", "pad_bottom", "pad_left", "pad_right")]
    if any(pads):
        raise UnsupportedError(f"reference: layer {node.name}: padded pooling is not modelled; use padding='valid'")
    op = str(g("pool_op")).lower()
    n = ph * pw
    if op != "max" and (op != "average" or n & (n - 1)):
        raise UnsupportedError(f"reference: layer {node.name}: {op} pooling over {n} values is not modelled")
    return _PoolGeometry(in_h, in_w, c, (ph, pw), (sh, sw), (oh, ow), op)


def _pool_fn(node, xt: FixedType, t: FixedType, per_term: bool) -> LayerFn:
    """Max pooling (the max returned in accum_t if one is set), or average pooling over 2**k values (an
    exact sum read k bits finer, as exact in accum_t: see backends/exact/pooling.py), channels last."""
    from toolchain.backends.hls_types import to_fixed

    geo = _pool_geometry(node)
    acc = node.get_attr("accum_t")
    acc_t = to_fixed(acc.precision, f"accum of layer {node.name}") if acc is not None else None
    n = geo.pool[0] * geo.pool[1]
    if per_term:
        def exact(ins: list[np.ndarray]) -> np.ndarray:
            x = ins[0]
            if geo.op == "max":
                out, frac = np.max(np.stack(geo.windows(x)), axis=0).reshape(x.shape[0], -1), xt.frac
                if acc_t is not None:
                    out, frac = fixed.requantize(out, frac, acc_t), acc_t.frac
                return fixed.requantize(out, frac, t)
            total = np.sum(np.stack(geo.windows(x)), axis=0).reshape(x.shape[0], -1)
            return fixed.requantize(total, xt.frac + n.bit_length() - 1, t)
        return exact

    def fast(ins: list[np.ndarray]) -> np.ndarray:
        x = ins[0]
        views = geo.windows(x)
        reduce = np.maximum if geo.op == "max" else np.add
        out = reduce(views[0], views[1]) if n > 1 else views[0].copy()
        for view in views[2:]:
            reduce(out, view, out=out)
        out = out.reshape(x.shape[0], -1)
        lo, hi = _bounds(xt)
        if geo.op != "max":
            return _requant(out, xt.frac + n.bit_length() - 1, lo * n, hi * n, t, owned=True)
        if acc_t is None:
            return _requant(out, xt.frac, lo, hi, t, owned=True)
        out = _requant(out, xt.frac, lo, hi, acc_t, owned=True)
        lo, hi = (lo, hi) if _fits(xt.frac, lo, hi, acc_t) else _bounds(acc_t)
        return _requant(out, acc_t.frac, lo, hi, t, owned=True)

    if geo.op != "max" and not fastfixed.fits_float(_bounds(xt)[0] * n, _bounds(xt)[1] * n):
        return lambda ins: _as_type(_pool_fn(node, xt, t, True)(ins), t)  # the sum needs int64
    return fast


# ---- Dense / Conv ------------------------------------------------------------------------------------------


def patches(x: np.ndarray, g: Geometry) -> np.ndarray:
    """im2col: (batch * out_h * out_w, filt_h * filt_w * n_chan) in x's dtype, Keras patch order, zero padding.

    One copy through a strided view; a 1x1 frame without padding (Dense, pointwise) is a reshape.
    """
    n = x.shape[0]
    pointwise = (g.filt_height, g.filt_width, g.stride_height, g.stride_width) == (1, 1, 1, 1)
    if pointwise and (g.out_height, g.out_width, g.pad_top, g.pad_left) == (g.in_height, g.in_width, 0, 0):
        return x.reshape(n * g.out_height * g.out_width, g.n_in)
    img = _padded(x, g)
    s0, s1, s2, s3 = img.strides
    view = as_strided(img, shape=(n, g.out_height, g.out_width, g.filt_height, g.filt_width, g.n_chan),
                      strides=(s0, s1 * g.stride_height, s2 * g.stride_width, s1, s2, s3), writeable=False)
    return view.reshape(n * g.out_height * g.out_width, g.n_in)


def _padded(x: np.ndarray, g: Geometry) -> np.ndarray:
    """The images (batch, h, w, chan), zero padded on every side the frame reads beyond."""
    img = x.reshape(x.shape[0], g.in_height, g.in_width, g.n_chan)
    pad_h = max(0, (g.out_height - 1) * g.stride_height + g.filt_height - g.in_height - g.pad_top)
    pad_w = max(0, (g.out_width - 1) * g.stride_width + g.filt_width - g.in_width - g.pad_left)
    if not (g.pad_top or g.pad_left or pad_h or pad_w):
        return np.ascontiguousarray(img)
    out = np.zeros((img.shape[0], g.pad_top + g.in_height + pad_h, g.pad_left + g.in_width + pad_w, g.n_chan),
                   dtype=img.dtype)  # np.pad does the same with more Python overhead per call
    out[:, g.pad_top:g.pad_top + g.in_height, g.pad_left:g.pad_left + g.in_width, :] = img
    return out


def _patches_per_position(x: np.ndarray, g: Geometry) -> np.ndarray:
    """``patches`` filter position by filter position (int64): the per-term path's definition."""
    n = x.shape[0]
    img = _padded(x, g)
    cols = np.empty((n, g.out_height, g.out_width, g.filt_height, g.filt_width, g.n_chan), dtype=np.int64)
    for fh in range(g.filt_height):
        for fw in range(g.filt_width):
            cols[:, :, :, fh, fw, :] = img[:, fh:fh + g.stride_height * (g.out_height - 1) + 1:g.stride_height,
                                           fw:fw + g.stride_width * (g.out_width - 1) + 1:g.stride_width, :]
    return cols.reshape(n * g.out_height * g.out_width, g.n_in)


def dot_accumulator(plan: DotPlan, cols: np.ndarray, per_term: bool = False) -> np.ndarray:
    """Exact accumulator codes (int64: rows of cols, n_out) on the plan's grid, bias included.

    ``per_term=True``: computed the way its kernel's C++ does (``Kernel.accumulate``); otherwise the
    same integers by ``Kernel.fast_accumulate``.
    """
    if per_term:
        return plan.kernel.accumulate(plan, _as_int(cols)) + plan.bias_acc[None, :]
    return _as_int(_accumulator(plan, cols))


def _accumulator(plan: DotPlan, cols: Codes) -> Codes:
    """The exact accumulator (bias included): float64 when it fits 53 bits and the product came out as float64."""
    acc = plan.kernel.fast_accumulate(plan, cols)
    if acc.dtype == np.float32:
        acc = acc.astype(np.float64)
    if acc.dtype == np.float64 and fastfixed.fits_float(plan.acc_lo, plan.acc_hi):
        acc += plan.bias_acc  # exact: the sum is an integer below 2**53 (the bias is one of the accumulator values)
        return acc
    return _as_int(acc) + plan.bias_acc[None, :]


def _dot_codes(plan: DotPlan, x: Codes, t: FixedType) -> Codes:
    """Fast path of ``dot_layer``: output codes (batch, out_h * out_w * n_out) in ``t``'s representation.

    ``x``: int64, float64 or float32 codes (float32 makes ``fast_accumulate`` use float32 BLAS where exact).
    """
    acc = _accumulator(plan, patches(x, plan.geometry))
    lo, hi = plan.acc_lo, plan.acc_hi
    acc = _requant(acc, plan.acc_frac, lo, hi, plan.acc_type, owned=True)
    if not _fits(plan.acc_frac, lo, hi, plan.acc_type):
        lo, hi = _bounds(plan.acc_type)
    return _requant(acc, plan.acc_type.frac, lo, hi, t, owned=True).reshape(x.shape[0], -1)


def dot_layer(plan: DotPlan, x: np.ndarray, xt: FixedType, out_type: FixedType | None = None,
              per_term: bool = False) -> np.ndarray:
    """Output codes (int64: batch, out_h * out_w * n_out) of a planned Dense/Conv layer.

    ``per_term=True``: accumulated term by term as the kernel's C++ does (the oracle of the default).
    """
    if xt != plan.x_type:
        raise DataError(f"reference: layer {plan.layer} planned for input {plan.x_type}, got {xt}")
    t = out_type or plan.result_type
    if not per_term:
        return _as_int(_dot_codes(plan, x, t))
    n = x.shape[0]
    acc = dot_accumulator(plan, _patches_per_position(_as_int(x), plan.geometry), per_term=True)
    acc = fixed.requantize(acc, plan.acc_frac, plan.acc_type)
    return fixed.requantize(acc, plan.acc_type.frac, t).reshape(n, -1)
