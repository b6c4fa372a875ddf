#!/usr/bin/env python3
"""Host driver of the arith4ml Artix shell of project {{project}} on board {{board}} (written by
toolchain/shell/artix.py).

Runs the network on the board over its USB-UART: float inputs are quantized to the input type's codes exactly as
arith4ml's ``toolchain.arith.fixed.quantize`` does (``arith4ml_codes.py``, copied beside this file, is the board
drivers' copy of it, so this needs only NumPy and pyserial), sent as frames, and the returned output codes are
converted back to floats.

Framing (docs/boards.md, "Artix flow"):

* host -> FPGA: ``0xA5``, then ``N_IN`` words of ``IN_BYTES`` bytes each, least significant byte first (the input
  code in two's complement);
* FPGA -> host: ``0x5A``, then ``N_OUT`` words of ``OUT_BYTES`` bytes (the output code in the low bits).

The FPGA forgets a partial frame after ``TIMEOUT_S`` seconds of silence; :meth:`Board.resync` waits that long and
empties both directions, and :meth:`Board.predict` does so and resends after a reply that does not come.  By default
one frame is in flight (``window=1``), so a lost frame is a missing reply.  The FPGA has two frame buffers, and
``window=2`` overlaps sending the next frame with receiving a reply (up to twice the throughput), but replies carry
no frame number: use it only on a clean line, where no frame is lost.

Command line::

    python serial_driver.py --port /dev/ttyUSB1 --input x.npy [--output y.npy] [--check PROJECT_DIR]

``--check`` compares the board's outputs with ``toolchain.reference`` (where arith4ml is installed): they must be
equal bit for bit.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # arith4ml_codes.py is copied beside this file
import arith4ml_codes  # noqa: E402  (the shared quantizer of the board drivers)

# ---- the shell (filled in by arith4ml) ----------------------------------------------------------------------------
PROJECT = "{{project}}"
BOARD = "{{board}}"
N_IN = int("{{n_in}}")  # values per input frame
N_OUT = int("{{n_out}}")  # values per output frame
IN_BYTES = int("{{in_bytes}}")  # bytes per input value on the line
OUT_BYTES = int("{{out_bytes}}")
BAUD = int("{{baud}}")
TIMEOUT_S = float("{{timeout_s}}")  # the FPGA drops a partial frame after this much silence (s)
SYNC_IN = int("{{sync_in}}")  # first byte of an input frame
SYNC_OUT = int("{{sync_out}}")  # first byte of an output frame
MAX_WINDOW = 2  # frames in flight the FPGA can hold (two frame buffers)
WINDOW = 1  # frames in flight by default: a lost frame then shows as a missing reply


@dataclass(frozen=True)
class FixedType:
    """ap_fixed<width, integer, rounding, overflow> (``signed=False``: ap_ufixed); code = value * 2**frac."""

    width: int
    integer: int
    signed: bool
    rounding: str
    overflow: str

    @property
    def frac(self) -> int:
        return self.width - self.integer

    @property
    def min_code(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max_code(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1


INPUT_TYPE = FixedType(int("{{in_bits}}"), int("{{in_integer}}"), "{{in_signed}}" == "True", "{{in_rounding}}",
                       "{{in_overflow}}")  # {{input_type}}
OUTPUT_TYPE = FixedType(int("{{out_bits}}"), int("{{out_integer}}"), "{{out_signed}}" == "True", "AP_TRN",
                        "AP_WRAP")  # {{output_type}}


# ---- quantisation: arith4ml_codes.py (the board drivers' copy of toolchain.arith.fixed.quantize) ---------------------

def quantize(x, t: FixedType) -> np.ndarray:
    """Real values -> int64 codes of ``t`` (value = code * 2**-frac), as ``t(x)`` in C++; NaN/inf refused."""
    return arith4ml_codes.quantize(x, t.width, t.frac, t.signed, t.rounding, t.overflow)


def to_float(codes, t: FixedType) -> np.ndarray:
    return arith4ml_codes.to_float(codes, t.frac)


# ---- frames -------------------------------------------------------------------------------------------------------

def encode(codes: np.ndarray, nbytes: int) -> bytes:
    """int64 codes -> ``nbytes`` bytes each, two's complement, least significant byte first."""
    words = np.asarray(codes, dtype=np.int64).astype("<u8")  # two's complement bits kept
    return words.view(np.uint8).reshape(-1, 8)[:, :nbytes].tobytes()


def decode(data: bytes, nbytes: int, t: FixedType) -> np.ndarray:
    """``nbytes``-byte little-endian words -> int64 codes of ``t`` (its low ``t.width`` bits, sign-extended)."""
    raw = np.frombuffer(data, dtype=np.uint8).reshape(-1, nbytes).astype(np.uint64)
    words = np.zeros(raw.shape[0], dtype=np.uint64)
    for i in range(nbytes):
        words |= raw[:, i] << np.uint64(8 * i)
    codes = (words & np.uint64((1 << t.width) - 1)).astype(np.int64)
    if t.signed:
        codes = np.where(codes >= (1 << (t.width - 1)), codes - (1 << t.width), codes)
    return codes


def input_frame(codes: np.ndarray) -> bytes:
    return bytes([SYNC_IN]) + encode(codes, IN_BYTES)


class Board:
    """The board on serial port ``port`` (a path such as /dev/ttyUSB1, or an open pyserial port)."""

    def __init__(self, port, baud: int = BAUD, window: int = WINDOW, reply_timeout: float | None = None,
                 retries: int = 2) -> None:
        import serial  # pyserial

        self.serial = serial.Serial(port, baudrate=baud, timeout=0.05) if isinstance(port, str) else port
        self.baud = baud
        self.window = max(1, min(int(window), MAX_WINDOW))
        # a reply takes (1 + N_OUT * OUT_BYTES) characters of 10 bits; allow for the frames queued before it
        frame_s = 10.0 * (2 + N_IN * IN_BYTES + N_OUT * OUT_BYTES) / baud
        self.reply_timeout = reply_timeout if reply_timeout is not None else 1.0 + 4 * frame_s
        self.retries = retries
        self.skipped = 0  # bytes seen outside reply frames

    def close(self) -> None:
        self.serial.close()

    def __enter__(self) -> Board:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def resync(self) -> None:
        """Bring host and FPGA back to a frame boundary: stay quiet longer than the FPGA's timeout (it drops a
        partial frame), then discard whatever is still arriving."""
        self.serial.reset_output_buffer()
        time.sleep(2 * TIMEOUT_S)
        while self.serial.read(4096):
            pass  # a read times out after 0.05 s of silence
        self.serial.reset_input_buffer()

    def _read_reply(self) -> np.ndarray | None:
        """The next reply's output codes, or None if it does not come within ``reply_timeout`` seconds."""
        deadline = time.monotonic() + self.reply_timeout
        while True:
            b = self.serial.read(1)
            if b == bytes([SYNC_OUT]):
                break
            if b:
                self.skipped += 1
            if time.monotonic() > deadline:
                return None
        need, data = N_OUT * OUT_BYTES, b""
        while len(data) < need:
            data += self.serial.read(need - len(data))
            if time.monotonic() > deadline:
                return None
        return decode(data, OUT_BYTES, OUTPUT_TYPE)

    def run_codes(self, codes: np.ndarray) -> np.ndarray:
        """Input codes (n, N_IN) -> output codes (n, N_OUT), int64."""
        codes = np.asarray(codes, dtype=np.int64).reshape(-1, N_IN)
        out = np.zeros((codes.shape[0], N_OUT), dtype=np.int64)
        done = sent = 0
        retries = self.retries
        while done < codes.shape[0]:
            while sent < codes.shape[0] and sent - done < self.window:
                self.serial.write(input_frame(codes[sent]))
                sent += 1
            self.serial.flush()
            reply = self._read_reply()
            if reply is None:
                if retries == 0:
                    raise TimeoutError(f"no reply from {BOARD} for frame {done} within {self.reply_timeout:.2f} s "
                                       f"(after {self.retries} resyncs); is the bitstream loaded and the port right?")
                retries -= 1
                self.resync()
                sent = done  # resend every unanswered frame
                continue
            out[done] = reply
            done += 1
        return out

    def predict(self, x) -> np.ndarray:
        """Float inputs (n, N_IN) -> the board's outputs (n, N_OUT), float64 (values of the output type)."""
        x = np.asarray(x, dtype=np.float64).reshape(-1, N_IN)
        return to_float(self.run_codes(quantize(x, INPUT_TYPE)), OUTPUT_TYPE) + 0.0


def check_with_reference(project_dir: str, x: np.ndarray, y: np.ndarray) -> int:
    """Frames whose outputs differ from arith4ml's reference (``toolchain.reference``) of the project; needs
    arith4ml."""
    from toolchain import project, reference

    hm, _ = project.reopen(project_dir, compile=False)
    ref = reference.predict(hm, x.reshape(x.shape[0], -1))
    return int(np.sum(np.any(ref != y, axis=1)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=f"run {PROJECT} on the {BOARD} over its serial port")
    ap.add_argument("--port", required=True, help="serial port of the board's USB-UART, e.g. /dev/ttyUSB1, COM4")
    ap.add_argument("--input", required=True, help=".npy of float inputs, shape (n, ...) with N_IN values each")
    ap.add_argument("--output", help=".npy to write the outputs to (float64, shape (n, N_OUT))")
    ap.add_argument("--baud", type=int, default=BAUD)
    ap.add_argument("--window", type=int, default=WINDOW,
                    help="frames in flight: 1 (default), or 2 on a clean line (replies carry no frame number)")
    ap.add_argument("--check", metavar="PROJECT_DIR", help="compare with toolchain.reference (needs arith4ml)")
    args = ap.parse_args(argv)
    x = np.load(args.input).astype(np.float64)
    x = x.reshape(x.shape[0], -1)
    if x.shape[1] != N_IN:
        print(f"error: {args.input} has {x.shape[1]} values per sample; {PROJECT} takes {N_IN}", file=sys.stderr)
        return 2
    start = time.monotonic()
    with Board(args.port, baud=args.baud, window=args.window) as board:
        y = board.predict(x)
    elapsed = time.monotonic() - start
    print(f"{x.shape[0]} frames in {elapsed:.3f} s")
    if args.output:
        np.save(args.output, y)
    if args.check:
        bad = check_with_reference(args.check, x, y)
        print(f"reference check: {bad} of {x.shape[0]} frames differ")
        return 1 if bad else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
