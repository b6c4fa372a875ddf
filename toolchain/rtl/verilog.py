"""Verilog-2005 text from the template files under ``templates/rtl/``.

A template is plain Verilog with ``{{NAME}}`` placeholders (upper-case identifiers in double
braces).  Python only fills them in: the hardware structure stays readable in the ``.v`` file,
never assembled line by line here.  ``{{`` followed by anything else (e.g. a Verilog replication
``{{(N-M){1'b0}}, x}``) is left alone.

Constant data (weights, moduli constants) enters a module as a packed hexadecimal parameter
(:func:`packed_hex`) that the template's ``generate`` loops index, so a zero weight can be skipped
by a ``generate if`` in the template rather than by Python writing fewer lines.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from toolchain.errors import ArithValueError
from toolchain.resources import templates_dir

PLACEHOLDER = re.compile(r"\{\{([A-Z][A-Z0-9_]*)\}\}")
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
CLOCK, RESET = "clk", "rst"  # the clock and the synchronous, active-high reset of a clocked unit


@dataclass(frozen=True)
class Port:
    """One port of a generated module: ``direction`` is ``"input"`` or ``"output"``.

    A port carries ``elements`` words of ``width`` bits each, packed with element 0 in the least
    significant bits (a vector ``x[0..n-1]`` of a layer is one port ``x`` with ``elements=n``).
    """

    name: str
    direction: str
    width: int
    signed: bool = True
    elements: int = 1

    @property
    def bits(self) -> int:
        """Total width of the packed port, in bits."""
        return self.width * self.elements


@dataclass(frozen=True)
class RtlUnit:
    """A generated Verilog module: its name, its full source text, its ports and the parameters it was made with.

    ``clocked``: the module has ``clk`` and ``rst`` inputs (not listed in ``ports``) and its outputs are
    registered; combinational otherwise.  ``verilog`` may hold several modules (the unit's own
    sub-units); ``name`` is the top one.
    """

    name: str
    verilog: str
    ports: tuple[Port, ...]
    params: dict[str, object] = field(default_factory=dict, compare=False)
    clocked: bool = False

    def port(self, name: str) -> Port:
        """The port called ``name`` (KeyError lists the ports)."""
        for p in self.ports:
            if p.name == name:
                return p
        raise KeyError(f"{self.name} has no port {name!r}; ports: {', '.join(p.name for p in self.ports)}")

    @property
    def inputs(self) -> tuple[Port, ...]:
        return tuple(p for p in self.ports if p.direction == "input")

    @property
    def outputs(self) -> tuple[Port, ...]:
        return tuple(p for p in self.ports if p.direction == "output")

    def write(self, folder: str | Path) -> Path:
        """Write ``<folder>/<name>.v`` and return its path."""
        path = Path(folder) / f"{self.name}.v"
        path.write_text(self.verilog)
        return path


def template_path(name: str) -> Path:
    """Path of ``templates/rtl/<name>``."""
    return templates_dir() / "rtl" / name


def render(template: str, **values: object) -> str:
    """The template ``templates/rtl/<template>`` with every ``{{KEY}}`` replaced by ``str(values[KEY])``.

    A placeholder without a value, or a value the template never uses, raises: both mean the
    template and its generator have drifted apart, which would otherwise emit broken Verilog.
    """
    text = template_path(template).read_text()
    used = set(PLACEHOLDER.findall(text))
    missing = sorted(used - values.keys())
    unused = sorted(values.keys() - used)
    if missing or unused:
        raise ArithValueError(f"RTL template {template}: missing values {missing}, unused values {unused}")
    return PLACEHOLDER.sub(lambda mo: str(values[mo.group(1)]), text)


def check_identifier(name: str) -> str:
    """``name`` if it is a plain Verilog identifier (so it can be a module and file name), else ArithValueError."""
    if not isinstance(name, str) or not IDENTIFIER.fullmatch(name) or "$" in name:
        raise ArithValueError(f"module name {name!r} is not a Verilog identifier ([A-Za-z_][A-Za-z0-9_]*)")
    return name


# Icarus' lexer refuses a single literal of more than ~16,000 characters: longer tables are written as a
# concatenation of literals of at most this many bits (highest first), which every tool reads as one constant
LITERAL_CHUNK_BITS = 16384


def packed_hex(values: Iterable[int], width: int, *, unsigned: bool = False) -> str:
    """A Verilog sized hexadecimal constant holding ``values`` as ``width``-bit two's complement fields,
    element 0 in the least significant bits (how the templates index constant tables: ``T[i*W +: W]``).

    ``unsigned``: every value must lie in ``[0, 2**width)`` (else ``[-2**(width-1), 2**width)``).  A table longer
    than ``LITERAL_CHUNK_BITS`` bits is a concatenation ``{hi, ..., lo}`` of sized literals."""
    vals = [int(v) for v in values]
    if width < 1:
        raise ArithValueError(f"packed field width {width} must be >= 1")
    lo, hi = (0 if unsigned else -(1 << (width - 1))), (1 << width) - 1
    mask = (1 << width) - 1
    for v in vals:
        if not lo <= v <= hi:
            raise ArithValueError(f"constant {v} does not fit {'an unsigned' if unsigned else 'a'} {width}-bit field")
    per = max(LITERAL_CHUNK_BITS // width, 1)
    chunks = []
    for start in range(0, max(len(vals), 1), per):
        part = vals[start:start + per]
        word = 0
        for i, v in enumerate(part):
            word |= (v & mask) << (i * width)
        chunks.append(f"{max(len(part) * width, 1)}'h{word:x}")
    return chunks[0] if len(chunks) == 1 else "{" + ", ".join(reversed(chunks)) + "}"


def is_integer(value: object) -> bool:
    """True for a Python or NumPy integer that is not a bool (a generator parameter, a table entry)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def int_param(value: object, name: str, lo: int, hi: int, what: str, owner: str) -> int:
    """``value`` as an int if it is an integer in ``lo..hi``, else ArithValueError naming the ``owner``'s parameter,
    its value and range, and ``what`` it means: the one check of every generator's integer parameters."""
    if not is_integer(value) or not lo <= value <= hi:
        raise ArithValueError(f"{owner} parameter {name}={value!r} out of range: an integer in {lo}..{hi} ({what})")
    return int(value)


__all__ = ["CLOCK", "LITERAL_CHUNK_BITS", "RESET", "Port", "RtlUnit", "check_identifier", "int_param", "is_integer",
           "packed_hex", "render", "template_path"]
