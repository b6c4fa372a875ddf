"""Verilog-2005 text from the template files under ``templates/rtl/``.

A template is plain Verilog with ``{{NAME}}`` placeholders (upper-case identifiers in double
braces).  Python only fills them in: the hardware structure stays readable in the ``.v`` file,
never assembled line by line here.  ``{{`` followed by anything else (e.g. a Verilog replication
``{{(N-M){1'b0}}, x}``) is left alone.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from toolchain.errors import ArithValueError
from toolchain.resources import templates_dir

PLACEHOLDER = re.compile(r"\{\{([A-Z][A-Z0-9_]*)\}\}")
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


@dataclass(frozen=True)
class Port:
    """One port of a generated module: ``direction`` is ``"input"`` or ``"output"``."""

    name: str
    direction: str
    width: int
    signed: bool = True


@dataclass(frozen=True)
class RtlUnit:
    """A generated Verilog module: its name, its full source text, its ports and the parameters it was made with."""

    name: str
    verilog: str
    ports: tuple[Port, ...]
    params: dict[str, int] = field(default_factory=dict, compare=False)

    def port(self, name: str) -> Port:
        """The port called ``name`` (KeyError lists the ports)."""
        for p in self.ports:
            if p.name == name:
                return p
        raise KeyError(f"{self.name} has no port {name!r}; ports: {', '.join(p.name for p in self.ports)}")

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


__all__ = ["Port", "RtlUnit", "check_identifier", "render", "template_path"]
