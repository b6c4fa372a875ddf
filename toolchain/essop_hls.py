"""ESSOP on-chip weight update of a project's last Dense layer: config, types, generated files, C-sim API, cost.

``Model: {EssopUpdate: LAYER}`` (or a mapping, :data:`KEYS`) in hls.yml, or ``arith4ml convert
--essop-update LAYER``, adds to the project an HLS top function ``<project>_essop_update(x, delta)``
(``firmware/<project>_essop.cpp``, ``templates/nnet_utils/nnet_essop.h``) that owns a trainable copy of
the layer's kernel and applies one stochastic outer-product step ``W <- W - dW`` per call, bit-exact with
``toolchain.arith.essop.essop_update`` (the LFSR state carried from call to call).  The inference top
function keeps its constant weights.  docs/essop.md describes the function, its types and exactness.

Python side of a compiled project (attached to the hls4ml model): ``hm.essop_update(x, delta)`` (one step,
or a batch of steps in order), ``hm.essop_weights()`` (Keras layout ``(n_in, n_out)`` float64),
``hm.essop_reset()``, ``hm.essop`` (the :class:`EssopUpdater`).
"""
from __future__ import annotations

import ctypes
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from toolchain.arith import essop as _es
from toolchain.arith.fixed import FixedType  # re-exported: the update's x, delta and weight types
from toolchain.errors import ConfigError, DataError, UnsupportedError

__all__ = ["CONFIG_KEY", "KEYS", "FixedType", "EssopSpec", "essop_config_problem", "parse_essop_config",
           "essop_spec", "write_essop", "attach", "EssopUpdater", "EssopCost", "essop_cost"]

CONFIG_KEY = "EssopUpdate"  # hls.yml Model key
KEYS = ("Layer", "BL", "LrShift", "SeedX", "SeedD", "XPrecision", "DeltaPrecision", "WeightPrecision", "GuardBits")
DEFAULTS = {"BL": 64, "LrShift": 0, "SeedX": _es.DEFAULT_SEED_X, "SeedD": _es.DEFAULT_SEED_D,
            "XPrecision": None, "DeltaPrecision": "fixed<16,2>", "WeightPrecision": None, "GuardBits": 4}
MAX_BL = 1 << 16
MAX_CODE_WIDTH = 32  # x and delta codes: native words in C-sim, and a priority encoder of at most 32 inputs
MAX_WEIGHT_WIDTH = 53  # the weights are read back as float64 and compared with the float64 reference
LFSR_WIDTH = _es.DEFAULT_WIDTH  # the reference's registers: 16 bits, its taps and seeds
TAPS_X = _es.MAXIMAL_TAPS[LFSR_WIDTH]
TAPS_D = _es.DEFAULT_TAPS_D


# ---- config ---------------------------------------------------------------------------------------------


def _int_problem(key: str, value, lo: int, hi: int) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi
    return None if ok else f"{CONFIG_KEY}.{key} must be an integer in {lo}..{hi}; got {value!r}"


def _precision(value: str, key: str) -> FixedType:
    """The fixed-point type of an hls4ml precision string (ConfigError naming ``key`` otherwise)."""
    from hls4ml.backends.fpga.fpga_backend import FPGABackend
    from hls4ml.model.types import FixedPrecisionType, IntegerPrecisionType

    try:
        p = FPGABackend.convert_precision_string(value) if isinstance(value, str) else None
    except Exception:  # noqa: BLE001 - hls4ml raises several types for a bad string
        p = None
    if isinstance(p, (FixedPrecisionType, IntegerPrecisionType)):
        return _of(p)
    raise ConfigError(f"{CONFIG_KEY}.{key} must be a fixed-point type such as 'fixed<16,2>' or 'ufixed<8,3>'; "
                      f"got {value!r}", key=CONFIG_KEY)


def parse_essop_config(value) -> dict:
    """The checked ``EssopUpdate`` settings with defaults filled in; one-line ConfigError naming the key.

    ``value`` is a layer name or a mapping with ``Layer`` (required) and any of :data:`KEYS`.
    """
    if isinstance(value, str):
        value = {"Layer": value}
    if not isinstance(value, dict):
        raise ConfigError(f"{CONFIG_KEY} must be a layer name or a mapping with Layer, BL, LrShift, ...; "
                          f"got {value!r}", key=CONFIG_KEY)
    unknown = [k for k in value if k not in KEYS]
    if unknown:
        raise ConfigError(f"unknown key {CONFIG_KEY}.{unknown[0]}; known: {', '.join(KEYS)}", key=CONFIG_KEY)
    if not isinstance(value.get("Layer"), str) or not value["Layer"]:
        raise ConfigError(f"{CONFIG_KEY}.Layer must name the Dense layer to update; got {value.get('Layer')!r}",
                          key=CONFIG_KEY)
    cfg = {**DEFAULTS, **value}
    for key, lo, hi in (("BL", 1, MAX_BL), ("LrShift", -64, 64), ("SeedX", 1, (1 << LFSR_WIDTH) - 1),
                        ("SeedD", 1, (1 << LFSR_WIDTH) - 1), ("GuardBits", 0, 32)):
        problem = _int_problem(key, cfg[key], lo, hi)
        if problem:
            raise ConfigError(problem, key=CONFIG_KEY)
    if cfg["BL"] & (cfg["BL"] - 1):
        raise ConfigError(f"{CONFIG_KEY}.BL must be a power of two; got {cfg['BL']}", key=CONFIG_KEY)
    for key in ("XPrecision", "DeltaPrecision", "WeightPrecision"):
        if cfg[key] is not None:
            _precision(cfg[key], key)
    return cfg


def essop_config_problem(value) -> str | None:
    """Why ``value`` is not an ``EssopUpdate`` setting (a phrase for hls.yml validation), or None."""
    try:
        parse_essop_config(value)
    except ConfigError as exc:
        return str(exc).removeprefix(f"{CONFIG_KEY}.")  # the caller names Model.EssopUpdate
    return None


def with_layer(model_cfg: dict | None, layer: str) -> dict:
    """An hls.yml Model entry with ``EssopUpdate`` set to update ``layer`` (other EssopUpdate settings kept);
    ConfigError for a bad value (``convert --essop-update LAYER``)."""
    model_cfg = dict(model_cfg or {})
    current = model_cfg.get(CONFIG_KEY)
    setting = {**current, "Layer": layer} if isinstance(current, dict) else {"Layer": layer}
    parse_essop_config(setting)
    model_cfg[CONFIG_KEY] = setting
    return model_cfg


# ---- types ------------------------------------------------------------------------------------------------


def _plain(t: FixedType) -> FixedType:
    """``t`` without rounding and overflow modes: the update's types only hold values already on their grid."""
    return FixedType(t.width, t.integer, t.signed)


def _of(precision) -> FixedType:
    """The plain fixed-point type of an hls4ml Fixed/Integer precision (UnsupportedError otherwise)."""
    from toolchain.backends.hls_types import to_fixed

    return _plain(to_fixed(precision))


def type_text(t: FixedType) -> str:
    """hls4ml's spelling of a plain type: ``fixed<16,2>``, ``ufixed<6,2>``."""
    return f"{'' if t.signed else 'u'}fixed<{t.width},{t.integer}>"


def grid_codes(t: FixedType, v: np.ndarray, what: str) -> np.ndarray:
    """Integer codes (int64) of ``v`` in ``t``; DataError naming the first value off the type's grid or range."""
    v = np.asarray(v, dtype=np.float64)
    bad = ~np.isfinite(v)
    c = np.ldexp(np.where(bad, 0.0, v), t.frac)
    lo, hi = t.min_code, t.max_code
    bad |= (c != np.floor(c)) | (c < lo) | (c > hi)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise DataError(f"{what}[{', '.join(map(str, idx))}] = {v[idx]!r} is not exactly a value of the ESSOP "
                        f"update's {what} type {type_text(t)} (range {lo * 2.0 ** -t.frac:g} .. "
                        f"{hi * 2.0 ** -t.frac:g}, step 2^{-t.frac})")
    return c.astype(np.int64)


def _grid_bits(values: np.ndarray) -> tuple[int, int]:
    """(fractional bits, signed integer bits) that hold every value of ``values`` exactly (at least (0, 1))."""
    frac, integer = 0, 1
    for v in np.asarray(values, dtype=np.float64).ravel():
        if v == 0.0:
            continue
        m, e = math.frexp(float(v))  # v = m * 2**e, |m| in [0.5, 1)
        mant = int(abs(m) * (1 << 53))
        lsb = e - 53 + ((mant & -mant).bit_length() - 1)  # exponent of the lowest set bit
        frac = max(frac, -lsb)
        need = e + 1 if not (v < 0 and abs(m) == 0.5) else e  # -2**(I-1) is the only value that needs no extra bit
        integer = max(integer, need)
    return frac, integer


@dataclass(frozen=True)
class EssopSpec:
    """Everything the generated update function is made of (derived by :func:`essop_spec`)."""

    project: str
    layer: str
    n_in: int
    n_out: int
    BL: int
    lr_shift: int
    seed_x: int
    seed_d: int
    x_type: FixedType
    d_type: FixedType
    w_type: FixedType
    initial: np.ndarray = field(repr=False, compare=False)  # (n_in, n_out) float64, on the weight grid

    @property
    def log2_bl(self) -> int:
        return self.BL.bit_length() - 1

    @property
    def shift_base(self) -> int:
        """Shift of a count onto the weight grid is ``p_x + p_d + shift_base`` (leading-one positions)."""
        return 2 - self.x_type.frac - self.d_type.frac - self.log2_bl + self.lr_shift + self.w_type.frac

    @property
    def update_integer(self) -> int:
        """Signed integer bits of the largest single update, ``+-2**(Ix + Id + lr_shift)``."""
        return self.x_type.integer + self.d_type.integer + self.lr_shift + 2

    def template_values(self) -> dict:
        # feedback masks as the reference's LFSR builds them: bit (width - t) for each tap t
        mask = sum(1 << (LFSR_WIDTH - t) for t in TAPS_X)
        mask_d = sum(1 << (LFSR_WIDTH - t) for t in TAPS_D)
        weights = ", ".join(repr(float(v)) for v in self.initial.ravel())
        return {"project": self.project, "layer": self.layer, "guard": f"{self.project.upper()}_ESSOP_H_",
                "n_in": self.n_in, "n_out": self.n_out, "n_weights": self.n_in * self.n_out, "bl": self.BL,
                "log2_bl": self.log2_bl, "lfsr_width": LFSR_WIDTH, "taps_x": hex(mask), "taps_d": hex(mask_d),
                "seed_x": hex(self.seed_x), "seed_d": hex(self.seed_d), "leap": LFSR_WIDTH,
                "x_width": self.x_type.width, "x_frac": self.x_type.frac, "d_width": self.d_type.width,
                "d_frac": self.d_type.frac, "w_width": self.w_type.width, "w_frac": self.w_type.frac,
                "upd_width": min(self.update_integer + self.w_type.frac, self.w_type.width),
                "shift_base": self.shift_base, "weight_t": self.w_type.cpp(), "x_t": self.x_type.cpp(),
                "delta_t": self.d_type.cpp(), "weights": weights}


def _error(msg: str, layer: str | None = None) -> ConfigError:
    return ConfigError(f"{CONFIG_KEY}: {msg}", key=CONFIG_KEY, layer=layer)


def _model_setting(hm):
    hls = hm.config.get_config_value("HLSConfig") or {}
    return (hls.get("Model") or {}).get(CONFIG_KEY)


def _layer_node(hm, name: str):
    """The node of the Dense layer ``name``, which must be the model's last Dense layer (ConfigError otherwise)."""
    layers = list(hm.get_layers())
    dense = [n for n in layers if n.class_name == "Dense"]
    last = dense[-1].name if dense else None
    node = next((n for n in layers if n.name == name), None)
    hint = f"ESSOP updates the last Dense layer, here '{last}'" if last else "the model has no Dense layer"
    if node is None:
        raise _error(f"the model has no layer '{name}'; {hint}", layer=name)
    if node.class_name != "Dense":
        raise _error(f"layer '{name}' is not a Dense layer (it is {node.class_name}); {hint}", layer=name)
    if name != last:
        raise _error(f"layer '{name}' is not the last Dense layer; {hint}", layer=name)
    return node


def _io_types(cfg: dict, node) -> tuple[FixedType, FixedType]:
    """The x and delta types: XPrecision (default: the layer's input type, or an Approx layer's 8-bit activation type;
    its non-negative half if signed) and DeltaPrecision."""
    name = node.name
    if cfg["XPrecision"] is not None:
        x_type = _precision(cfg["XPrecision"], "XPrecision")
    else:
        p = node.get_input_variable().type.precision
        plan = node.get_attr("arith_plan")
        act_type = getattr(getattr(plan, "encoding", None), "act_type", None)
        try:
            # an Approx layer sees its inputs as its 8-bit activation codes: the update takes those
            t = _plain(act_type) if act_type else _of(p)
        except UnsupportedError:
            raise _error(f"the input of layer '{name}' has type {p}; set {CONFIG_KEY}.XPrecision", name) from None
        # x >= 0 (post-ReLU): the non-negative half of a signed type, one bit narrower, holds it exactly
        x_type = FixedType(t.width - 1, t.integer - 1, False) if t.signed else t
    d_type = _precision(cfg["DeltaPrecision"], "DeltaPrecision")
    if x_type.signed:
        raise _error(f"XPrecision {type_text(x_type)} is signed; ESSOP encodes x >= 0, give a ufixed type", name)
    if not d_type.signed:
        raise _error(f"DeltaPrecision {type_text(d_type)} is unsigned; the error delta is signed", name)
    for what, t in (("XPrecision", x_type), ("DeltaPrecision", d_type)):
        if not 1 <= t.width <= MAX_CODE_WIDTH:
            raise _error(f"{what} {type_text(t)} is {t.width} bits wide; the update takes 1..{MAX_CODE_WIDTH}", name)
    return x_type, d_type


def _weight_type(cfg: dict, name: str, kernel: np.ndarray, x_type: FixedType,
                 d_type: FixedType) -> tuple[FixedType, np.ndarray]:
    """The weight memory's type and initial values: WeightPrecision (checked; the kernel rounded onto it), or
    derived: fractional bits of the smallest update and of the kernel, integer bits of the largest update and
    of the kernel plus GuardBits.  ConfigError when no such type of at most MAX_WEIGHT_WIDTH bits exists."""
    bl, lr = cfg["BL"], cfg["LrShift"]
    log2_bl = bl.bit_length() - 1
    # smallest update: one count at the smallest exponents (leading ones at bit 0 of both codes);
    # largest: BL counts at the largest, +-2**(Ix + Id + lr)
    upd_frac = max(0, x_type.frac + d_type.frac + log2_bl - lr - 2)
    upd_int = x_type.integer + d_type.integer + lr + 2
    what = f"{type_text(x_type)} x, {type_text(d_type)} delta, BL {bl}, LrShift {lr}"
    if cfg["WeightPrecision"] is not None:
        w_type = _precision(cfg["WeightPrecision"], "WeightPrecision")
        if not w_type.signed:
            raise _error(f"WeightPrecision {type_text(w_type)} is unsigned; updates make weights of both signs", name)
        if w_type.frac < upd_frac or w_type.integer < upd_int:
            raise _error(f"WeightPrecision {type_text(w_type)} cannot hold every update exactly: they need "
                         f"{upd_frac} fractional and {upd_int} integer bits ({what}); leave WeightPrecision out to "
                         "derive it", name)
        initial = np.ldexp(np.floor(np.ldexp(kernel, w_type.frac) + 0.5), -w_type.frac)  # round to nearest
        if _grid_bits(initial)[1] > w_type.integer:
            raise _error(f"layer '{name}''s weights reach {np.abs(kernel).max():g}, beyond WeightPrecision "
                         f"{type_text(w_type)}", name)
    else:
        init_frac, init_int = _grid_bits(kernel)
        frac = max(upd_frac, init_frac)
        integer = max(upd_int, init_int) + cfg["GuardBits"]
        if frac + integer > MAX_WEIGHT_WIDTH:
            why = (f"layer '{name}''s kernel needs {init_frac} fractional bits (quantize it, e.g. QDense with "
                   f"quantized_bits, or set {CONFIG_KEY}.WeightPrecision to round it)") if init_frac > upd_frac else \
                f"updates need {upd_frac} fractional bits ({what}; narrow the types or raise LrShift)"
            raise _error(f"an exact weight memory needs {frac + integer} bits, more than the {MAX_WEIGHT_WIDTH} "
                         f"the float64 reference holds: {why}", name)
        w_type, initial = FixedType(frac + integer, integer, True), kernel
    if w_type.width > MAX_WEIGHT_WIDTH:
        raise _error(f"WeightPrecision {type_text(w_type)} is wider than {MAX_WEIGHT_WIDTH} bits, which the float64 "
                     "reference and the read-back hold exactly", name)
    return w_type, np.ascontiguousarray(initial)


def essop_spec(hm) -> EssopSpec | None:
    """The ESSOP update an hls4ml model's config asks for (None if it asks for none), with the weight type derived.

    ConfigError (exit 2) if the layer is not the model's last Dense layer, or if no weight type of at most
    :data:`MAX_WEIGHT_WIDTH` bits makes every update exact.  Reads the layer's weights: call it before the
    writer drops them.
    """
    setting = _model_setting(hm)
    if setting is None:
        return None
    cfg = parse_essop_config(setting)
    node = _layer_node(hm, cfg["Layer"])
    kernel = np.asarray(node.weights["weight"].data, dtype=np.float64)
    n_in, n_out = kernel.shape
    x_type, d_type = _io_types(cfg, node)
    w_type, initial = _weight_type(cfg, node.name, kernel, x_type, d_type)
    return EssopSpec(hm.config.get_project_name(), node.name, int(n_in), int(n_out), cfg["BL"], cfg["LrShift"],
                     cfg["SeedX"], cfg["SeedD"], x_type, d_type, w_type, initial)


# ---- generated files --------------------------------------------------------------------------------------


def write_essop(hm, spec: EssopSpec) -> None:
    """Write the update function and its C-sim entry points into ``hm``'s written project; attach the API."""
    from toolchain.backends.writer import render
    from toolchain.resources import templates_dir

    out = Path(hm.config.get_output_dir())
    values = spec.template_values()
    (out / "firmware" / "nnet_utils").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(templates_dir() / "nnet_utils" / "nnet_essop.h", out / "firmware" / "nnet_utils" / "nnet_essop.h")
    (out / "firmware" / f"{spec.project}_essop.h").write_text(render("essop/essop_top.h", **values))
    (out / "firmware" / f"{spec.project}_essop.cpp").write_text(render("essop/essop_top.cpp", **values))
    with (out / f"{spec.project}_bridge.cpp").open("a") as f:
        f.write(render("essop/bridge_essop.cpp", **values))
    attach(hm, spec)


def describe(spec: EssopSpec) -> str:
    """One line naming the generated update function and its types."""
    return (f"  ESSOP update of layer {spec.layer} ({spec.n_in}x{spec.n_out}): firmware/{spec.project}_essop.cpp, "
            f"{spec.project}_essop_update(x {type_text(spec.x_type)}, delta {type_text(spec.d_type)}), weights "
            f"{type_text(spec.w_type)}, BL {spec.BL}, LrShift {spec.lr_shift}")


# ---- C-sim API ----------------------------------------------------------------------------------------------

_D = ctypes.POINTER(ctypes.c_double)


class EssopUpdater:
    """The C-sim of a project's ESSOP update function (its state lives in the loaded library)."""

    def __init__(self, hm, spec: EssopSpec) -> None:
        self.hm = hm
        self.spec = spec

    def _fn(self, suffix: str):
        lib = getattr(self.hm, "_top_function_lib", None)
        if lib is None:
            raise DataError("the project's C-sim library is not loaded; compile it first (hm.compile())")
        return getattr(lib, f"{self.spec.project}_essop_{suffix}")

    def update(self, x: np.ndarray, delta: np.ndarray) -> None:
        """Apply ESSOP steps ``W <- W - dW``: ``x`` (n_in,) or (N, n_in) layer inputs ``>= 0``, ``delta`` (n_out,)
        or (N, n_out) errors; rows in order.  Values must lie exactly on the x and delta types' grids.
        DataError if a weight overflowed the weight type (it then saturated)."""
        s = self.spec
        x = np.asarray(x, dtype=np.float64)
        delta = np.asarray(delta, dtype=np.float64)
        x, delta = np.atleast_2d(x), np.atleast_2d(delta)
        if x.ndim != 2 or x.shape[1] != s.n_in or delta.ndim != 2 or delta.shape != (x.shape[0], s.n_out):
            raise DataError(f"ESSOP update of layer {s.layer}: x must be (n_in,) or (N, n_in) and delta (n_out,) or "
                            f"(N, n_out) with n_in = {s.n_in}, n_out = {s.n_out}; got {x.shape} and {delta.shape}")
        grid_codes(s.x_type, x, "x")
        grid_codes(s.d_type, delta, "delta")
        x, delta = np.ascontiguousarray(x), np.ascontiguousarray(delta)
        self._fn("batch")(x.ctypes.data_as(_D), delta.ctypes.data_as(_D), ctypes.c_ulong(x.shape[0]))
        if self.overflow:
            raise DataError(f"ESSOP update of layer {s.layer}: a weight left the weight type {type_text(s.w_type)} and "
                            f"saturated; raise {CONFIG_KEY}.GuardBits")

    def _read(self) -> tuple[np.ndarray, bool]:
        w = np.empty(self.spec.n_in * self.spec.n_out, dtype=np.float64)
        flag = self._fn("read")(w.ctypes.data_as(_D))
        return w.reshape(self.spec.n_in, self.spec.n_out), bool(flag)

    def weights(self) -> np.ndarray:
        """The weight memory in Keras kernel layout ``(n_in, n_out)``, float64 (exact)."""
        return self._read()[0]

    @property
    def overflow(self) -> bool:
        """True once a weight has left the weight type's range (sticky until :meth:`reset`)."""
        return self._read()[1]

    def lfsr_states(self) -> tuple[int, int]:
        """The two LFSR registers (x, delta) now."""
        st = (ctypes.c_uint * 2)()
        self._fn("lfsr")(st)
        return int(st[0]), int(st[1])

    def reset(self) -> None:
        """Back to the weights at conversion and the seeds."""
        self._fn("reset")()


def attach(hm, spec: EssopSpec | None = None) -> EssopUpdater | None:
    """Give ``hm`` its ESSOP API (``essop``, ``essop_update``, ``essop_weights``, ``essop_reset``) if its config asks
    for an update; returns the updater (None without one).  Works before compiling; the calls need the library."""
    spec = spec if spec is not None else essop_spec(hm)
    if spec is None:
        return None
    up = EssopUpdater(hm, spec)
    hm.essop = up
    hm.essop_update = up.update
    hm.essop_weights = up.weights
    hm.essop_reset = up.reset
    return up


# ---- cost --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EssopCost:
    """Operation counts and energy (pJ, cost-table figures, not measurements) of one ESSOP update and of an exact
    outer product of the same size."""

    essop_ops: dict  # label -> (kind, params, count)
    exact_ops: dict
    essop_pj: float
    exact_pj: float
    fp16_pj: float  # an FP16 outer product (n_in * n_out FP16 multiplies + adds), the ESSOP paper's baseline
    table: str

    @property
    def saving(self) -> float:
        """Fraction of the exact outer product's energy that ESSOP saves (negative: it costs more)."""
        return 1.0 - self.essop_pj / self.exact_pj

    def counts(self) -> dict:
        """Operation counts per kind, both designs: {kind: (essop, exact)}."""
        out: dict = {}
        for side, ops in ((0, self.essop_ops), (1, self.exact_ops)):
            for kind, _, n in ops.values():
                pair = out.setdefault(kind, [0, 0])
                pair[side] += n
        return {k: tuple(v) for k, v in out.items()}


def essop_cost(n_in: int, n_out: int, BL: int = 64, lfsr_width: int = LFSR_WIDTH, x_bits: int = 8,
               d_bits: int = 16, weight_bits: int = 32, exact_bits: int = 8, table=None) -> EssopCost:
    """Cost of one ESSOP update step of an ``n_in x n_out`` kernel next to an exact ``exact_bits`` outer product.

    ESSOP (the operations of ``nnet_essop.h``): per time step two leap-forward LFSR numbers (``lfsr_width``
    clocks of the tap XORs each, costed as 1-bit ANDs), ``n_in + n_out`` compares of ``lfsr_width + 1`` bits,
    ``n_in * n_out`` 1-bit ANDs and counter increments (``log2 BL + 1`` bits); per step the leading-one ORs, the
    magnitude shifts (and rounding adds), one count shift onto the weight grid and one ``weight_bits`` add per
    weight (an upper bound: every counter is charged every step, whether its AND is 1 or not).  Exact:
    ``n_in * n_out`` ``exact_bits`` x ``exact_bits`` multiplies and ``weight_bits`` adds (a power-of-two
    learning rate on fixed types is a constant shift: wiring).  FP16: ``n_in * n_out`` FP16 multiplies and adds
    (the ESSOP paper's baseline).  Energy by
    ``toolchain.energy.op_energy`` under ``table`` (default: the shipped 45 nm table).
    """
    from toolchain import energy

    n, log2_bl = n_in * n_out, BL.bit_length() - 1
    taps = len(TAPS_X) - 1 + len(TAPS_D) - 1  # XORs per clock of the two registers
    essop_ops = {
        "LFSR XOR": ("and", (1,), BL * lfsr_width * taps),
        "stream compare": ("compare", (lfsr_width + 1,), BL * (n_in + n_out)),
        "stream AND": ("and", (1,), BL * n),
        "counter": ("count", (log2_bl + 1,), BL * n),
        "leading-one OR": ("and", (max(x_bits, d_bits),), n_in + n_out),
        "magnitude shift": ("shift", (lfsr_width + 1, max(x_bits, d_bits)), n_in + n_out),
        "rounding add": ("add", (lfsr_width + 1,), n_in + n_out),
        "count shift": ("shift", (weight_bits, weight_bits - log2_bl - 1), n),
        "weight add": ("add", (weight_bits,), n),
    }
    exact_ops = {
        "multiply": ("mult", (exact_bits, exact_bits), n),
        "weight add": ("add", (weight_bits,), n),
    }

    def pj(ops: dict) -> float:
        return sum(count * energy.op_energy(kind, params, table) for kind, params, count in ops.values())

    t = table or energy.load_cost_table()
    return EssopCost(essop_ops, exact_ops, pj(essop_ops), pj(exact_ops), n * (t.fp16_mult + t.fp16_add), t.name)
