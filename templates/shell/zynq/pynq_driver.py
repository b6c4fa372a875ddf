"""PYNQ driver of {{top}} on {{board}}: arith4ml project {{project}} behind an AXI DMA.

Written by arith4ml (toolchain/shell/zynq.py); runs on the board with PYNQ and NumPy, without arith4ml.
Copy it and ``arith4ml_codes.py`` next to ``{{top}}.bit`` and ``{{top}}.hwh`` (``output/``) and::

    from pynq_driver import NetworkOverlay
    net = NetworkOverlay()            # downloads {{top}}.bit (PYNQ sets the PL clock from the .hwh)
    y = net.predict(x)                # x: (n, {{n_in}}) floats (or (n, *input shape)); y: (n, {{n_out}}) floats

Wire format (the HLS top ``{{top}}``): one {{in_width}}-bit word per input value holding its raw code of
{{input_type}}, one {{out_width}}-bit word per output value holding the code of {{output_type}}, sign-extended
for signed types.  Inputs are quantized here exactly as arith4ml's reference does (toolchain.arith.fixed.quantize:
the type's rounding, then its overflow mode), so the board's outputs equal ``toolchain.reference.predict``'s.
"""
from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # arith4ml_codes.py is copied beside this file
import arith4ml_codes  # noqa: E402  (the shared quantizer of the board drivers)

try:
    from pynq import Overlay, allocate
except ImportError:  # not on a board: the packing functions below still import (host-side checks, tests)
    Overlay, allocate = object, None

# the values arith4ml filled in (each in a string, so that the template itself is valid Python)
TOP = "{{top}}"
N_IN, N_OUT = int("{{n_in}}"), int("{{n_out}}")  # values per frame
# input type {{input_type}}: width, fractional bits, signed, rounding, overflow
IN_WIDTH, IN_FRAC, IN_SIGNED = int("{{in_bits}}"), int("{{in_frac}}"), "{{in_signed}}" == "True"
IN_ROUNDING, IN_OVERFLOW = "{{in_rounding}}", "{{in_overflow}}"
# output type {{output_type}}: width, fractional bits, signed
OUT_WIDTH, OUT_FRAC, OUT_SIGNED = int("{{out_bits}}"), int("{{out_frac}}"), "{{out_signed}}" == "True"
IN_WORD = np.dtype("{{in_dtype}}")  # a {{in_width}}-bit stream word
OUT_WORD = np.dtype("{{out_dtype}}")  # a {{out_width}}-bit stream word
MAX_TRANSFER = (1 << 26) - 1  # bytes per DMA transfer: the DMA's 26-bit length register (PG021)


def quantize(x, width: int = IN_WIDTH, frac: int = IN_FRAC, signed: bool = IN_SIGNED, rounding: str = IN_ROUNDING,
             overflow: str = IN_OVERFLOW) -> np.ndarray:
    """Raw int64 codes of real values ``x`` in the IP's input type (arith4ml_codes.quantize, as C++ ``T(x)``)."""
    return arith4ml_codes.quantize(x, width, frac, signed, rounding, overflow)


def pack(x) -> np.ndarray:
    """Input stream words of a batch: ``x`` (n, N_IN) or (n, *input shape) or (N_IN,) floats -> (n * N_IN,)."""
    x = np.asarray(x, dtype=np.float64)
    if x.size % N_IN or x.size == 0:
        raise ValueError(f"inputs of shape {x.shape} do not hold whole frames of {N_IN} values")
    # a code's two's complement in the word's width: signed codes sign-extend, unsigned ones zero-extend
    return quantize(x.reshape(-1)).astype(IN_WORD)


def unpack(words) -> np.ndarray:
    """Output values (float64, (n, N_OUT)) of output stream words: the code in the low OUT_WIDTH bits."""
    codes = np.asarray(words).astype(np.int64) & ((1 << OUT_WIDTH) - 1)
    if OUT_SIGNED:
        codes = np.where(codes >= (1 << (OUT_WIDTH - 1)), codes - (1 << OUT_WIDTH), codes)
    return np.ldexp(codes.astype(np.float64), -OUT_FRAC).reshape(-1, N_OUT) + 0.0


class NetworkOverlay(Overlay):
    """The bitstream with {{top}}: ``predict`` sends a batch through the AXI DMA and returns the outputs."""

    def __init__(self, bitfile: str | None = None, **kwargs) -> None:
        if allocate is None:
            raise ImportError("NetworkOverlay needs PYNQ (run it on the board)")
        here = os.path.dirname(os.path.abspath(__file__))
        super().__init__(bitfile or os.path.join(here, f"{TOP}.bit"), **kwargs)
        self.dma = self.axi_dma_0
        self.ip = getattr(self, f"{TOP}_0")
        # control register: ap_start | auto_restart, so the IP takes frame after frame as the DMA streams them
        self.ip.write(0x00, 0x81)
        # whole frames per DMA transfer, within the length register's bytes
        self.frames_per_transfer = max(1, min(MAX_TRANSFER // (N_IN * IN_WORD.itemsize),
                                              MAX_TRANSFER // (N_OUT * OUT_WORD.itemsize)))

    def predict(self, x) -> np.ndarray:
        """Outputs (n, N_OUT) float64 of inputs ``x`` (n frames of N_IN floats); quantized as arith4ml does."""
        words = pack(x)
        n = words.size // N_IN
        out = np.empty(n * N_OUT, dtype=OUT_WORD)
        step = self.frames_per_transfer
        for start in range(0, n, step):
            count = min(step, n - start)
            in_buf = allocate(shape=(count * N_IN,), dtype=IN_WORD)
            out_buf = allocate(shape=(count * N_OUT,), dtype=OUT_WORD)
            try:
                in_buf[:] = words[start * N_IN:(start + count) * N_IN]
                in_buf.flush()
                # receive first: the S2MM channel must be ready before the IP's first output word
                self.dma.recvchannel.transfer(out_buf)
                self.dma.sendchannel.transfer(in_buf)  # TLAST on the last word: the IP ends the batch with it
                self.dma.sendchannel.wait()
                self.dma.recvchannel.wait()
                out_buf.invalidate()
                out[start * N_OUT:(start + count) * N_OUT] = out_buf
            finally:
                in_buf.freebuffer()
                out_buf.freebuffer()
        return unpack(out)
