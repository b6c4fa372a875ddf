"""What every board shell needs from a written project: its name, I/O sizes and fixed-point types, and the
stream words that carry them.

A project's top function is ``<project>(input[n_in], output[n_out])`` (io_parallel) or the stream version
(io_stream).  The shells wrap it in ``<project>_axis``: one AXI4-Stream beat per value, the value's raw
two's-complement (or unsigned) code in the low bits of a word whose width is the type's width rounded up to whole
bytes (:func:`stream_width`), TLAST on the last value of a frame.  Drivers pack and unpack these words with the
conversion of ``toolchain.reference`` (:func:`toolchain.arith.fixed.quantize` with the input type's rounding and
overflow, codes times ``2**-frac`` back).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from toolchain.arith.fixed import FixedType

BYTE = 8


def stream_width(t: FixedType) -> int:
    """Bits of the stream word that carries one value of ``t``: its width rounded up to whole bytes."""
    return -(-t.width // BYTE) * BYTE


@dataclass(frozen=True)
class ProjectIO:
    """The I/O of a written project, as the shells see it."""

    project_dir: Path
    name: str  # the project (and top function) name, e.g. 'myproject'
    n_in: int  # values per input frame
    n_out: int  # values per output frame
    input_type: FixedType
    output_type: FixedType
    io_type: str  # 'io_parallel' or 'io_stream'
    part: str
    clock_period_ns: float
    backend: str
    # the C++ names of the top function's input and output types (hls4ml's input_t / result_t): the array
    # element (io_parallel) or the stream word, an nnet::array of values (io_stream)
    input_cpp: str = "input_t"
    output_cpp: str = "result_t"

    @property
    def in_width(self) -> int:
        return stream_width(self.input_type)

    @property
    def out_width(self) -> int:
        return stream_width(self.output_type)

    def as_dict(self) -> dict:
        return {"name": self.name, "n_in": self.n_in, "n_out": self.n_out, "input_type": self.input_type.cpp(),
                "output_type": self.output_type.cpp(), "in_width": self.in_width, "out_width": self.out_width,
                "io_type": self.io_type, "part": self.part, "clock_period_ns": self.clock_period_ns,
                "backend": self.backend, "input_cpp": self.input_cpp, "output_cpp": self.output_cpp}


def project_io(project_dir: str | Path, hm=None) -> ProjectIO:
    """The I/O of the arith4ml project in ``project_dir`` (reopened without compiling unless ``hm`` is given);
    DataError if it is not an arith4ml project, UnsupportedError if it has more than one input or output."""
    from toolchain import project
    from toolchain.backends.hls_types import to_fixed
    from toolchain.errors import UnsupportedError

    project_dir = Path(project_dir).resolve()
    if hm is None:
        hm, _ = project.reopen(project_dir, compile=False)
    ins, outs = hm.get_input_variables(), hm.get_output_variables()
    if len(ins) != 1 or len(outs) != 1:
        raise UnsupportedError(f"project '{project_dir}' has {len(ins)} inputs and {len(outs)} outputs; a board "
                               "shell streams one input and one output")
    meta = json.loads((project_dir / project.META).read_text())
    return ProjectIO(project_dir=project_dir, name=hm.config.get_project_name(), n_in=int(ins[0].size()),
                     n_out=int(outs[0].size()), input_type=to_fixed(ins[0].type.precision, "the project's input"),
                     output_type=to_fixed(outs[0].type.precision, "the project's output"),
                     io_type=hm.config.get_config_value("IOType"), part=str(meta["part"]),
                     clock_period_ns=float(meta["clock_period"]), backend=str(meta["backend"]),
                     input_cpp=str(ins[0].type.name), output_cpp=str(outs[0].type.name))


@dataclass
class ShellProject:
    """What :func:`toolchain.shell.write_shell` wrote into ``directory`` (``PROJECT/shell/<board>``)."""

    directory: Path
    board: str
    family: str
    io: ProjectIO
    hls_script: Path  # builds and exports the HLS IP (vitis-run --tcl / vitis_hls -f / vivado_hls -f)
    vivado_script: Path  # block design or RTL top through write_bitstream, reports collected
    driver: Path  # host driver: PYNQ overlay (Zynq) or serial (Artix)
    outputs: dict[str, Path] = field(default_factory=dict)  # 'bit', 'hwh', 'utilization', 'timing' after a build
    files: list[Path] = field(default_factory=list)  # every file written


CODES_MODULE = "arith4ml_codes.py"  # the drivers' standalone copy of toolchain.arith.fixed.quantize


def copy_codes_module(directory: Path) -> Path:
    """Copy ``templates/shell/arith4ml_codes.py`` (the board drivers' quantizer) into ``directory``; returns it."""
    import shutil

    from toolchain.resources import templates_dir

    return Path(shutil.copyfile(templates_dir() / "shell" / CODES_MODULE, Path(directory) / CODES_MODULE))
