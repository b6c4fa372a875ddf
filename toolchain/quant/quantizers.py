"""QKeras-compatible weight quantizers: power-of-two with a zero level, ternary, (N,k) structured ternary.

Every quantizer evaluates the bit-exact NumPy reference of ``toolchain.arith``
(``pot.quantize``, ``ternary.ternarize``, ``ternary.project_nk``) through
``tf.numpy_function``, so Keras and the reference agree **by construction**;
the gradient is a straight-through estimator (identity) implemented with
``tf.custom_gradient``, so the forward value is exactly the reference value
(not ``x + (xq - x)``, which can differ from ``xq`` by one float32 ulp).

The classes subclass QKeras ``quantized_po2`` / ``ternary`` so QKeras tools
treat them as their kind, and are registered as Keras custom objects under
their class names when ``toolchain.quant`` is imported: ``load_model`` needs
no ``custom_objects`` after ``import toolchain.quant`` (or pass
:data:`CUSTOM_OBJECTS`).  ``toolchain.quant.hls`` teaches the hls4ml QKeras
parser to map them to exact fixed-point weight types.
"""
from __future__ import annotations

import math

import numpy as np
import tensorflow as tf
from qkeras.quantizers import quantized_po2, ternary

from toolchain.arith import pot as _pot
from toolchain.arith import ternary as _ter
from toolchain.errors import ConfigError


def _ste(x: tf.Tensor, xq: tf.Tensor) -> tf.Tensor:
    """Return exactly ``xq`` in the forward pass, pass the gradient of ``x`` straight through."""

    @tf.custom_gradient
    def _f(x_in):
        def grad(dy):
            return dy

        return tf.identity(xq), grad

    return _f(x)


def _check_int(value, name: str, lo: int | None = None, hi: int | None = None) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"quantizer parameter {name}={value!r} must be an integer")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ConfigError(f"quantizer parameter {name}={value!r} must lie in {lo}..{hi}")
    return int(value)


def _check_float(value, name: str, lo: float = 0.0) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(float(value)) or float(value) < lo:
        raise ConfigError(f"quantizer parameter {name}={value!r} must be a finite number >= {lo}")
    return float(value)


# --------------------------------------------------------------------------- power of two

class quantized_pot(quantized_po2):  # noqa: N801  (QKeras naming style)
    """Power-of-two weights with an exact zero level: ``w = ±2**e`` or ``0``.

    ``bits`` counts the sign bit; one of the ``2**(bits-1)`` magnitude codes is
    zero, the others are exponents ``[max_exp - 2**(bits-1) + 2, max_exp]``
    (``toolchain.arith.pot.exponent_range``).  Values are exactly
    ``pot.decode(pot.quantize(w, bits, max_exp, zero_margin))``: nearest
    exponent in the log domain, ``|w| < zero_margin * 2**e_min`` becomes 0.

    ``zero_margin`` lives in a non-trainable float64 variable so that
    :class:`toolchain.quant.PotPruning` can raise it during training; its
    current value is what ``get_config`` saves.
    """

    def __init__(self, bits: int = 4, max_exp: int = 0, zero_margin: float = _pot.DEFAULT_ZERO_MARGIN, **kwargs):
        bits = _check_int(bits, "bits", 2, _pot.MAX_BITS)
        max_exp = _check_int(max_exp, "max_exp")
        zero_margin = _check_float(zero_margin, "zero_margin")
        self.e_min, self.e_max = _pot.exponent_range(bits, max_exp)
        super().__init__(bits=bits, max_value=2.0 ** max_exp)
        self.max_exp = max_exp
        with tf.init_scope():
            self._margin = tf.Variable(zero_margin, dtype=tf.float64, trainable=False, name="zero_margin")

    # -- reference
    @property
    def zero_margin(self) -> float:
        return float(self._margin.numpy())

    def set_zero_margin(self, margin: float) -> None:
        self._margin.assign(_check_float(margin, "zero_margin"))

    def reference(self, w: np.ndarray, zero_margin: float | None = None) -> np.ndarray:
        """Exact quantized values (float64) from ``toolchain.arith.pot``."""
        margin = self.zero_margin if zero_margin is None else zero_margin
        return _pot.decode(_pot.quantize(np.asarray(w, dtype=np.float64), self.bits, self.max_exp, margin))

    def codes(self, w: np.ndarray) -> np.ndarray | None:
        """Integer codes ``±2**(e - e_min)`` or 0 (the quantized weight divided by ``2**e_min``).

        None when ``e_max - e_min > 62`` (the codes would not fit int64).
        """
        if self.e_max - self.e_min > 62:
            return None
        return np.rint(np.ldexp(self.reference(w), -self.e_min)).astype(np.int64)

    @property
    def code_scale(self) -> float | None:
        """Integer code = quantized value * code_scale (None if codes would exceed int64)."""
        return None if self.e_max - self.e_min > 62 else 2.0 ** (-self.e_min)

    def __call__(self, x):
        x = tf.convert_to_tensor(x)
        dtype = x.dtype

        def f(w, margin):
            return self.reference(w, float(margin)).astype(dtype.as_numpy_dtype)

        xq = tf.numpy_function(f, [x, self._margin], dtype, stateful=False)
        xq = tf.ensure_shape(xq, x.shape)
        return _ste(x, xq)

    def __str__(self) -> str:
        return f"quantized_pot({self.bits},{self.max_exp},{self.zero_margin:g})"

    def max(self):
        return 2.0 ** self.e_max

    def min(self):
        return -(2.0 ** self.e_max)

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def get_config(self):
        return {"bits": int(self.bits), "max_exp": int(self.max_exp), "zero_margin": self.zero_margin}


# --------------------------------------------------------------------------- ternary

class pot_ternary(ternary):  # noqa: N801
    """Ternary weights ``{-a, 0, +a}`` with ``a`` a power of two (per layer or per output channel).

    Exactly ``t * scale`` of ``toolchain.arith.ternary.ternarize(w, threshold, per_channel)``:
    ``delta = threshold * mean|w|``, ``a = 2**round_log2(mean of the kept |w|)``.
    ``alpha="auto_po2"`` (default) is that rule; ``alpha=1`` fixes ``a = 1``
    (what hls4ml's ``QKerasFactorizeAlpha`` pass sets after moving the scale
    into an ``ApplyAlpha`` layer).  After an eager call, ``self.scale`` holds
    the per-output-channel scale (shape ``(n_out,)``), as QKeras ternary does.
    """

    def __init__(self, threshold: float = 0.7, per_channel: bool = True, alpha="auto_po2", **kwargs):
        threshold = _check_float(threshold, "threshold")
        if alpha not in ("auto_po2", 1, 1.0):
            raise ConfigError(f"ternary quantizer alpha={alpha!r} must be 'auto_po2' or 1")
        super().__init__(alpha=alpha, threshold=threshold)
        self.per_channel = bool(per_channel)
        self.bits = 2
        self.scale = 1.0

    def _project(self, w: np.ndarray) -> np.ndarray:
        return w

    def decompose(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(t, scale)`` from the reference (``scale`` is 1.0 when ``alpha == 1``)."""
        w = np.asarray(w, dtype=np.float64)
        t, scale = _ter.ternarize(self._project(w), self.threshold, self.per_channel)
        if self.alpha != "auto_po2":
            scale = np.ones_like(scale)
        return t, scale

    def reference(self, w: np.ndarray) -> np.ndarray:
        t, scale = self.decompose(w)
        return t * scale

    @property
    def code_scale(self):  # ternary codes are t in {-1, 0, 1}: no single scale
        return None

    def codes(self, w: np.ndarray) -> np.ndarray:
        return self.decompose(w)[0].astype(np.int64)

    def __call__(self, x):
        x = tf.convert_to_tensor(x)
        dtype = x.dtype
        if tf.executing_eagerly():
            t, scale = self.decompose(x.numpy())
            n_out = x.shape[-1] if x.shape.rank else 1
            self.scale = tf.constant(np.broadcast_to(scale, (n_out,)).astype(dtype.as_numpy_dtype))
            return _ste(x, tf.constant((t * scale).astype(dtype.as_numpy_dtype)))

        def f(w):
            return self.reference(w).astype(dtype.as_numpy_dtype)

        xq = tf.numpy_function(f, [x], dtype, stateful=False)
        xq = tf.ensure_shape(xq, x.shape)
        return _ste(x, xq)

    def __str__(self) -> str:
        return f"pot_ternary({self.threshold:g},per_channel={int(self.per_channel)})"

    def max(self):
        return 1.0

    def min(self):
        return -1.0

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def get_config(self):
        return {"threshold": float(self.threshold), "per_channel": self.per_channel, "alpha": self.alpha}


class nk_ternary(pot_ternary):  # noqa: N801
    """Structured sparse (N,k) ternary: at most ``k`` non-zeros per group of ``N`` along the input axis.

    Values are ``ternarize(project_nk(w, N, k))``: in each group keep the ``k``
    largest ``|w|`` (``toolchain.arith.ternary.project_nk``), then ternarize
    with a power-of-two scale.  Dense kernels ``(n_in, n_out)`` group along
    ``n_in``; convolution kernels ``(kh, kw, c_in, c_out)`` are flattened to
    ``(kh*kw*c_in, c_out)`` (the im2col patch order) and grouped along it.
    Storage: ``toolchain.arith.ternary.bits_per_weight(N, k)`` (1.0 for (8,2)).
    """

    def __init__(self, N: int = 8, k: int = 2, threshold: float = 0.7, per_channel: bool = True,
                 alpha="auto_po2", **kwargs):
        self.N = _check_int(N, "N", 1, _ter.MAX_N)
        self.k = _check_int(k, "k", 0, self.N)
        super().__init__(threshold=threshold, per_channel=per_channel, alpha=alpha)

    def _project(self, w: np.ndarray) -> np.ndarray:
        shape = w.shape
        w2 = w.reshape(-1, shape[-1]) if w.ndim > 2 else w
        return _ter.project_nk(w2, self.N, self.k).reshape(shape)

    @property
    def bits_per_weight(self) -> float:
        return _ter.bits_per_weight(self.N, self.k)

    # the names the Bitshift backend looks for to pick the table-decoded (N,k) kernel
    @property
    def group_size(self) -> int:
        return self.N

    @property
    def max_nonzero(self) -> int:
        return self.k

    def __str__(self) -> str:
        return f"nk_ternary({self.N},{self.k},{self.threshold:g})"

    def get_config(self):
        return {"N": self.N, "k": self.k, "threshold": float(self.threshold), "per_channel": self.per_channel,
                "alpha": self.alpha}


# --------------------------------------------------------------------------- helpers

QUANTIZERS = {"pot": quantized_pot, "ternary": pot_ternary, "nk_ternary": nk_ternary}
CUSTOM_OBJECTS = {c.__name__: c for c in (quantized_pot, pot_ternary, nk_ternary)}


def code_scale(quantizer) -> float | None:
    """Integer weight code = quantized value * this factor; None where no single factor exists.

    ``quantized_pot``: ``2**-e_min``; QKeras ``quantized_bits`` (``alpha`` None
    or 1): ``2**(bits - keep_negative - integer)``; ternary: None (codes are t).
    """
    if quantizer is None:
        return None
    if hasattr(quantizer, "code_scale"):
        return quantizer.code_scale
    name = type(quantizer).__name__
    if name == "quantized_bits":
        alpha = getattr(quantizer, "alpha", None)
        if alpha not in (None, 1, 1.0):
            return None
        unsigned = int(quantizer.bits) - int(quantizer.keep_negative)
        return 2.0 ** (unsigned - int(quantizer.integer))
    if name == "quantized_po2":
        return None
    return None


def weight_codes(quantizer, w: np.ndarray) -> np.ndarray | None:
    """Integer codes of ``w`` under ``quantizer`` (int64), or None if it has no integer code."""
    if quantizer is None:
        return None
    if hasattr(quantizer, "codes"):
        return quantizer.codes(w)
    s = code_scale(quantizer)
    if s is None:
        return None
    q = np.asarray(quantizer(tf.convert_to_tensor(np.asarray(w, dtype=np.float32))), dtype=np.float64)
    codes = q * s
    return np.rint(codes).astype(np.int64)


def bits_per_weight(quantizer) -> float:
    """Storage bits per weight of a quantizer (32 for float, i.e. no quantizer)."""
    if quantizer is None:
        return 32.0
    if isinstance(quantizer, nk_ternary):
        return quantizer.bits_per_weight
    if isinstance(quantizer, pot_ternary):
        return 2.0
    return float(getattr(quantizer, "bits", 32))
