"""Verilog generators of the ESSOP weight-update hardware and of the exact outer-product baseline.

* :func:`essop_lfsr`: the leap-forward Fibonacci LFSR of :class:`toolchain.arith.essop.LFSR`; its
  state after ``k`` advances is ``LFSR.numbers()[k]``.
* :func:`essop_array`: ``n_out x n_in`` ESSOP cells (``n_in = n_out = 1`` is one cell) with the two
  shared LFSRs (one per vector: random-number reuse), one comparator per vector element, and per
  cell an AND and an up/down counter (counting -1 per one when ``delta_i < 0``).  Inputs are the
  magnitude codes ``EssopResult.qx`` / ``qd`` and the signs of ``delta``; the output ``count`` is
  ``EssopResult.counts`` (before the power-of-two shift, which the layer applies to the whole
  update).  One update takes ``BL + 1`` clocks.
* :func:`essop_scaler`: the per-vector front end: fixed-point codes to the magnitude codes ``q`` (a
  leading-one detector over the OR of the magnitudes and a rounding shift), the signs, and the
  leading-one position from which the layer forms the scale exponent.
* :func:`exact_outer_product`: ``n_out x n_in`` registered signed ``bits x bits`` multiplies
  ``delta_i * x_j``, one update per clock: the baseline.

Not in the RTL: the final shift of the counts onto the weight grid and the weight write-back
(``nnet_essop.h`` step 4), and a controller chaining scaler and array (the tests chain them).
"""
from __future__ import annotations

from typing import Any

from toolchain.arith.essop import DEFAULT_SEED_D, DEFAULT_SEED_X, DEFAULT_TAPS_D, MAXIMAL_TAPS
from toolchain.errors import ArithValueError
from toolchain.rtl.verilog import Port, RtlUnit, check_identifier, int_param, is_integer, packed_hex, render

WIDTH_RANGE = (3, 32)  # LFSR width = magnitude code width W, as toolchain.arith.essop.LFSR allows
LOG2_BL_RANGE = (1, 12)  # BL = 2 .. 4096, powers of two
SUPPORTED_BL = tuple(1 << k for k in range(LOG2_BL_RANGE[0], LOG2_BL_RANGE[1] + 1))
LEAP_RANGE = (1, 64)  # single-bit shifts per random number (the XOR network gets deeper with it)
MAX_CELLS = 4096  # n_in * n_out: a generated array, not a whole layer
EXACT_BITS = (8,)
# A second maximal polynomial per width for the delta register (the x register uses MAXIMAL_TAPS):
# the reference's default for 16 bits, and x^8 + x^6 + x^5 + x^3 + 1 (period 255, tests/test_rtl_essop.py).
SECOND_TAPS: dict[int, tuple[int, ...]] = {16: DEFAULT_TAPS_D, 8: (8, 6, 5, 3)}


def _int(value: Any, name: str, lo: int, hi: int, what: str) -> int:
    return int_param(value, name, lo, hi, what, "ESSOP RTL")


def _check_bl(bl: Any) -> int:
    if not is_integer(bl) or bl not in SUPPORTED_BL:
        raise ArithValueError(f"ESSOP RTL parameter bl={bl!r} is not supported: a power of two in "
                              f"{SUPPORTED_BL[0]}..{SUPPORTED_BL[-1]} (stream length)")
    return bl


def _check_taps(taps: Any, width: int, name: str, default: tuple[int, ...] | None) -> tuple[int, ...]:
    if taps is None:
        if default is None:
            raise ArithValueError(f"ESSOP RTL parameter {name}: no maximal polynomial tabulated for width={width}; "
                                  f"pass {name}= (distinct exponents in 1..{width} including {width})")
        return default
    given = taps
    taps = tuple(taps) if isinstance(taps, (tuple, list)) else ()
    if not taps or any(not is_integer(t) or not 1 <= t <= width for t in taps) or width not in taps \
            or len(set(taps)) != len(taps):
        raise ArithValueError(f"ESSOP RTL parameter {name}={given!r} out of range: distinct exponents in "
                              f"1..{width} including {width}")
    return taps


def feedback_mask(width: int, taps: tuple[int, ...]) -> int:
    """The LFSR feedback mask: bit ``width - t`` set for every tap ``t`` (as ``LFSR`` and ``nnet_essop.h`` use)."""
    return sum(1 << (width - t) for t in taps)


def _lfsr_params(width: Any, seed: Any, taps: Any, leap: Any, what: str,
                 default_seed: int, default_taps: tuple[int, ...] | None) -> tuple[int, int, tuple[int, ...], int]:
    width = _int(width, "width", *WIDTH_RANGE, "LFSR width = magnitude code width")
    taps = _check_taps(taps, width, f"taps{what}", default_taps)
    if seed is None:
        seed = (default_seed & ((1 << width) - 1)) or 1  # LFSR's own default rule
    seed = _int(seed, f"seed{what}", 1, (1 << width) - 1, "0 locks the register")
    leap = width if leap is None else leap
    leap = _int(leap, "leap", *LEAP_RANGE, "single-bit shifts per random number")
    return width, seed, taps, leap


def _word(value: int, width: int) -> str:
    """One unsigned ``width``-bit constant (``packed_hex``)."""
    return packed_hex([value], width, unsigned=True)


def essop_lfsr(width: int = 16, seed: int | None = None, taps: tuple[int, ...] | None = None,
               leap: int | None = None, name: str | None = None) -> RtlUnit:
    """Leap-forward LFSR equal to ``toolchain.arith.essop.LFSR(width, seed, taps, leap)``.

    ``width`` 3..32; ``taps`` default ``MAXIMAL_TAPS[width]``; ``seed`` 1..2**width-1 (default as
    ``LFSR``: ``0xACE1`` masked); ``leap`` 1..64 (default ``width``).  Clocked; input ``advance``
    (1 bit), output ``state`` (``width`` bits, unsigned): after reset the seed, after ``k`` advancing
    clocks ``LFSR.numbers()[k]``.
    """
    width, seed, taps, leap = _lfsr_params(width, seed, taps, leap, "", DEFAULT_SEED_X, MAXIMAL_TAPS.get(width))
    name = check_identifier(name or f"essop_lfsr{width}_{seed:x}_l{leap}")
    text = render("essop_lfsr.v", NAME=name, WIDTH=width, MASK=_word(feedback_mask(width, taps), width),
                  SEED=_word(seed, width), LEAP=leap)
    ports = (Port("advance", "input", 1, signed=False), Port("state", "output", width, signed=False))
    return RtlUnit(name, text, ports, {"width": width, "seed": seed, "taps": taps, "leap": leap}, clocked=True)


def essop_array(n_in: int = 1, n_out: int = 1, bl: int = 64, width: int = 16, seed_x: int | None = None,
                seed_d: int | None = None, taps_x: tuple[int, ...] | None = None,
                taps_d: tuple[int, ...] | None = None, leap: int | None = None, name: str | None = None) -> RtlUnit:
    """ESSOP update array of ``n_out x n_in`` cells (``1 x 1``: one cell) with its two shared LFSRs.

    Equal to ``essop_update(x, delta, bl, LFSR(width, seed_x, taps_x, leap), LFSR(width, seed_d, taps_d, leap))``:
    ``count`` is ``EssopResult.counts`` for ``qx = EssopResult.qx``, ``qd = EssopResult.qd`` and
    ``neg = delta < 0``.  ``bl`` a power of two in 2..4096; ``width`` 3..32 (codes are ``width + 1``
    bits, ``0 .. 2**width``); seeds default to the reference's (``0xACE1``, ``0x1D0F``, masked); ``taps_x``
    defaults to ``MAXIMAL_TAPS[width]``, ``taps_d`` to :data:`SECOND_TAPS` (16: ``DEFAULT_TAPS_D``).
    Ports (clocked): inputs ``start`` (1), ``qx`` (``n_in`` x ``width+1``, unsigned), ``qd``
    (``n_out`` x ``width+1``, unsigned), ``neg`` (``n_out`` x 1); outputs ``count``
    (``n_out*n_in`` x ``log2(bl)+2``, signed, element ``i*n_in + j``), ``done`` (1).
    """
    n_in = _int(n_in, "n_in", 1, MAX_CELLS, "x elements")
    n_out = _int(n_out, "n_out", 1, MAX_CELLS // n_in, f"delta elements; n_in * n_out <= {MAX_CELLS}")
    bl = _check_bl(bl)
    width, seed_x, taps_x, leap = _lfsr_params(width, seed_x, taps_x, leap, "_x", DEFAULT_SEED_X,
                                               MAXIMAL_TAPS.get(width))
    _, seed_d, taps_d, _ = _lfsr_params(width, seed_d, taps_d, leap, "_d", DEFAULT_SEED_D, SECOND_TAPS.get(width))
    log2_bl = bl.bit_length() - 1
    name = check_identifier(name or f"essop_array_{n_out}x{n_in}_bl{bl}_w{width}")
    array_text = render("essop_array.v", NAME=name, N_IN=n_in, N_OUT=n_out, WIDTH=width, LOG2_BL=log2_bl, LEAP=leap,
                        MASK_X=_word(feedback_mask(width, taps_x), width), SEED_X=_word(seed_x, width),
                        MASK_D=_word(feedback_mask(width, taps_d), width), SEED_D=_word(seed_d, width))
    ports = (Port("start", "input", 1, signed=False),
             Port("qx", "input", width + 1, signed=False, elements=n_in),
             Port("qd", "input", width + 1, signed=False, elements=n_out),
             Port("neg", "input", 1, signed=False, elements=n_out),
             Port("count", "output", log2_bl + 2, signed=True, elements=n_out * n_in),
             Port("done", "output", 1, signed=False))
    params = {"n_in": n_in, "n_out": n_out, "bl": bl, "width": width, "seed_x": seed_x, "seed_d": seed_d,
              "taps_x": taps_x, "taps_d": taps_d, "leap": leap, "cycles_per_update": bl + 1}
    return RtlUnit(name, array_text, ports, params, clocked=True)


def essop_scaler(n: int, code_width: int = 8, signed: bool = False, width: int = 16,
                 name: str | None = None) -> RtlUnit:
    """ESSOP front end of one vector: ``n`` fixed-point codes to the magnitude codes the array compares.

    Equal to ``quantize_magnitude(abs(pow2_scale(code * 2**-frac)[0]), width)`` for any ``frac``, with
    the scale exponent ``pow2_scale(...)[1] == lead + 1 - frac`` for a vector that is not all zero.
    ``n`` 1..4096; ``code_width`` 2..32 (two's complement if ``signed``: delta; else unsigned: x);
    ``width`` 3..32.  Clocked (registered outputs); input ``code`` (``n`` x ``code_width``); outputs
    ``q`` (``n`` x ``width+1``, unsigned), ``neg`` (``n`` x 1), ``lead`` (leading-one position, unsigned).
    """
    n = _int(n, "n", 1, MAX_CELLS, "vector elements")
    code_width = _int(code_width, "code_width", 2, 32, "bits of a fixed-point code")
    if not isinstance(signed, bool):
        raise ArithValueError(f"ESSOP RTL parameter signed={signed!r} must be True (delta) or False (x)")
    width = _int(width, "width", *WIDTH_RANGE, "LFSR width = magnitude code width")
    lead_width = max(1, (code_width - 1).bit_length())
    name = check_identifier(name or f"essop_scale_{n}x{'s' if signed else 'u'}{code_width}_w{width}")
    text = render("essop_scale.v", NAME=name, N=n, CODE_WIDTH=code_width, SIGNED=int(signed), WIDTH=width,
                  LEAD_WIDTH=lead_width)
    ports = (Port("code", "input", code_width, signed=signed, elements=n),
             Port("q", "output", width + 1, signed=False, elements=n),
             Port("neg", "output", 1, signed=False, elements=n),
             Port("lead", "output", lead_width, signed=False))
    return RtlUnit(name, text, ports, {"n": n, "code_width": code_width, "signed": signed, "width": width},
                   clocked=True)


def exact_outer_product(n_in: int = 1, n_out: int = 1, bits: int = 8, name: str | None = None) -> RtlUnit:
    """Exact baseline: ``n_out x n_in`` registered signed ``bits x bits`` products ``p[i*n_in + j] = delta_i * x_j``.

    ``bits`` 8 only.  Clocked; inputs ``x`` (``n_in`` x ``bits``, signed), ``delta`` (``n_out`` x
    ``bits``, signed); output ``p`` (``n_out*n_in`` x ``2*bits``, signed), one update per clock.
    """
    n_in = _int(n_in, "n_in", 1, MAX_CELLS, "x elements")
    n_out = _int(n_out, "n_out", 1, MAX_CELLS // n_in, f"delta elements; n_in * n_out <= {MAX_CELLS}")
    if not is_integer(bits) or bits not in EXACT_BITS:
        raise ArithValueError(f"exact outer product parameter bits={bits!r} is not supported; valid: "
                              f"{', '.join(map(str, EXACT_BITS))}")
    name = check_identifier(name or f"exact_outer_{n_out}x{n_in}_{bits}")
    text = render("essop_exact.v", NAME=name, N_IN=n_in, N_OUT=n_out, BITS=bits)
    ports = (Port("x", "input", bits, elements=n_in), Port("delta", "input", bits, elements=n_out),
             Port("p", "output", 2 * bits, elements=n_out * n_in))
    return RtlUnit(name, text, ports, {"n_in": n_in, "n_out": n_out, "bits": bits, "cycles_per_update": 1},
                   clocked=True)


__all__ = ["LEAP_RANGE", "LOG2_BL_RANGE", "MAX_CELLS", "SECOND_TAPS", "SUPPORTED_BL", "WIDTH_RANGE", "essop_array",
           "essop_lfsr", "essop_scaler", "exact_outer_product", "feedback_mask"]
