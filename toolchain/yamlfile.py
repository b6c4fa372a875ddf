"""Read a YAML config file and point at its lines: the one loader of ``arith4ml convert`` and ``arith4ml train``.

The file is read as UTF-8 and parsed with PyYAML's safe loader only (``yaml.safe_load``; no
Python objects).  Every mapping key and every sequence item gets the line it starts on, so
that a message can name it; all messages share one format::

    FILE:LINE: key.path: message

A missing file, a directory, bytes that are not UTF-8, invalid YAML and a top level that is not
a mapping each give a one-line :class:`~toolchain.errors.ConfigError` naming the file.
"""
from __future__ import annotations

import os
from typing import Any

import yaml

from toolchain.errors import Arith4mlError, ConfigError
from toolchain.files import read_input_bytes

KeyPath = tuple  # mapping keys (str) and sequence indices (int), outermost first


class YamlFile:
    """A parsed YAML document (``data``), its file (``path``, None for data given in code) and key lines."""

    def __init__(self, data: Any = None, path: str | os.PathLike | None = None,
                 lines: dict[tuple[str, ...], int] | None = None):
        self.data = {} if data is None else data
        self.path = None if path is None else os.fspath(path)
        self.lines = lines or {}  # (str(key), ...) -> 1-based line

    def line(self, *keys) -> int | None:
        """The line of exactly ``keys`` (a key or list item), or None if it is not in the file."""
        return self.lines.get(tuple(str(k) for k in keys))

    def where(self, *keys) -> str:
        """``FILE:LINE`` of the deepest prefix of ``keys`` in the file (else line 1); ``config`` without a file."""
        if self.path is None:
            return "config"
        for n in range(len(keys), 0, -1):
            line = self.line(*keys[:n])
            if line:
                return f"{self.path}:{line}"
        return f"{self.path}:1"

    def at(self, keys: KeyPath) -> str:
        """``FILE:LINE: key.path`` (just ``FILE:LINE`` for the empty path): the front of every message."""
        dotted = ".".join(str(k) for k in keys)
        return f"{self.where(*keys)}: {dotted}" if dotted else self.where()

    def error(self, keys: KeyPath, message: str, cls: type[Arith4mlError] = ConfigError) -> Arith4mlError:
        """``cls("FILE:LINE: key.path: message")``, to be raised by the caller."""
        return cls(f"{self.at(keys)}: {message}")

    def get(self, *keys, default: Any = None) -> Any:
        """The value at ``keys`` in the data, or ``default`` where a mapping along the way lacks the key."""
        node = self.data
        for k in keys:
            if not isinstance(node, dict) or k not in node:
                return default
            node = node[k]
        return node


def load(path: str | os.PathLike, expected: str = "a mapping", what: str = "config file") -> YamlFile:
    """Read and parse the YAML file ``path``; an empty file gives ``{}``.

    ``expected`` describes the top-level mapping for the message when it is something else
    (e.g. ``"a mapping with Model and/or LayerName keys"``); ``what`` names the file's role.
    """
    raw = read_input_bytes(path, what, ConfigError)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                          f"save the file as UTF-8") from None
    try:
        data = yaml.safe_load(text)
        node = yaml.compose(text, Loader=yaml.SafeLoader)  # the same document again, for its line marks
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}:{_error_line(exc, text)}: not valid YAML: {_problem(exc)}") from None
    if data is None:
        return YamlFile({}, path, {})
    doc = YamlFile(data, path, {})
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:{node.start_mark.line + 1}: the top level must be {expected}; "
                          f"got a {type(data).__name__}")
    _record_lines(doc, node, (), {})
    return doc


def _error_line(exc: yaml.YAMLError, text: str) -> int:
    """1-based line of a PyYAML error: its problem mark, or the position of a character it refused."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is not None:
        return mark.line + 1
    position = getattr(exc, "position", None)  # yaml.reader.ReaderError: a non-printable character
    return text.count("\n", 0, position) + 1 if isinstance(position, int) else 1


def _problem(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None) or getattr(exc, "reason", None)
    return str(problem or (str(exc).strip().splitlines() or [type(exc).__name__])[0])


def _record_lines(doc: YamlFile, node: yaml.Node, keys: tuple[str, ...], seen: dict[int, bool]) -> None:
    """Fill ``doc.lines`` for every key and item below ``node``.

    ``seen`` maps the id of each node walked to whether the walk is still inside it.  A node
    reached again through a YAML alias is not walked twice (its keys keep the lines of the
    first path, so that nested aliases cannot make the walk exponential); one reached while
    still inside itself is a recursive structure that no config can mean and is refused.
    """
    if id(node) in seen:
        if seen[id(node)]:
            raise doc.error(keys, "a YAML alias refers to a node that contains it; recursive configs are not allowed")
        return
    if isinstance(node, yaml.MappingNode):
        children = [(str(k.value), k, v) for k, v in node.value]
    elif isinstance(node, yaml.SequenceNode):
        children = [(str(i), v, v) for i, v in enumerate(node.value)]
    else:
        return
    seen[id(node)] = True
    for name, marked, value in children:
        doc.lines[keys + (name,)] = marked.start_mark.line + 1  # a repeated key: the last one, as in the data
        _record_lines(doc, value, keys + (name,), seen)
    seen[id(node)] = False
