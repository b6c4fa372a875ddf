"""toolchain.yamlfile: key and item lines, ``FILE:LINE: key.path: message``, one clean ConfigError per bad file."""
from __future__ import annotations

import pytest

from toolchain.errors import ConfigError, DataError
from toolchain.yamlfile import YamlFile, load

NESTED = """\
# a comment line
Model:
  ReuseFactor: 1
LayerName:
  fc1:
    Moduli:
      - 7
      - 8
      - 9
    Precision: {result: 'fixed<8,3>', weight: 'fixed<4,1>'}
  fc2: {NK: [8, 2]}
"""


def _write(tmp_path, content, name="c.yml"):
    p = tmp_path / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content, encoding="utf-8")
    return p


def _error(path, **kwargs) -> str:
    with pytest.raises(ConfigError) as info:
        load(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


def test_lines_of_nested_keys_and_list_items(tmp_path):
    doc = load(_write(tmp_path, NESTED))
    assert doc.data["LayerName"]["fc1"]["Moduli"] == [7, 8, 9]
    assert doc.line("Model") == 2 and doc.line("Model", "ReuseFactor") == 3
    assert doc.line("LayerName", "fc1") == 5 and doc.line("LayerName", "fc1", "Moduli") == 6
    assert [doc.line("LayerName", "fc1", "Moduli", i) for i in range(3)] == [7, 8, 9]  # int or str index
    assert doc.line("LayerName", "fc1", "Moduli", "2") == 9
    assert doc.line("LayerName", "fc1", "Precision", "weight") == 10  # inside a flow mapping
    assert doc.line("LayerName", "fc2", "NK", 1) == 11
    assert doc.line("LayerName", "fc3") is None


def test_where_is_the_deepest_known_prefix(tmp_path):
    path = _write(tmp_path, NESTED)
    doc = load(path)
    assert doc.where("LayerName", "fc1", "Moduli", 1) == f"{path}:8"
    assert doc.where("LayerName", "fc1", "Strategy") == f"{path}:5"  # not in the file: its layer's line
    assert doc.where("Nothing", "here") == f"{path}:1"
    assert doc.where() == f"{path}:1"


def test_one_message_format(tmp_path):
    path = _write(tmp_path, NESTED)
    doc = load(path)
    err = doc.error(("LayerName", "fc1", "Moduli", 0), "7 is too small")
    assert type(err) is ConfigError
    assert str(err) == f"{path}:7: LayerName.fc1.Moduli.0: 7 is too small"
    err = doc.error(("LayerName",), "bad data", DataError)
    assert type(err) is DataError and str(err) == f"{path}:4: LayerName: bad data"
    assert str(doc.error((), "whole file")) == f"{path}:1: whole file"


def test_data_given_in_code_has_no_file():
    doc = YamlFile({"Model": {"ReuseFactor": 2}})
    assert doc.path is None and doc.line("Model") is None
    assert str(doc.error(("Model", "ReuseFactor"), "no")) == "config: Model.ReuseFactor: no"
    assert doc.get("Model", "ReuseFactor") == 2 and doc.get("Model", "Nope", default=5) == 5
    assert YamlFile().data == {}


def test_repeated_key_gets_the_line_of_the_value_kept(tmp_path):
    doc = load(_write(tmp_path, "a: 1\nb: 2\na: 3\n"))
    assert doc.data["a"] == 3 and doc.line("a") == 3


def test_empty_file_is_an_empty_mapping(tmp_path):
    doc = load(_write(tmp_path, "# nothing but a comment\n"))
    assert doc.data == {} and doc.lines == {}


def test_missing_file_and_directory(tmp_path):
    assert "does not exist" in _error(tmp_path / "nope.yml")
    (tmp_path / "d.yml").mkdir()
    assert "is not a file" in _error(tmp_path / "d.yml")


def test_bytes_that_are_not_utf8(tmp_path):
    path = _write(tmp_path, b"Model:\n  ReuseFactor: 1\n  Name: caf\xe9\n")  # Latin-1, not UTF-8
    message = _error(path)
    assert message.startswith(f"{path}:3: ") and "UTF-8" in message and "0xe9" in message


def test_utf8_with_bom_and_non_ascii_text(tmp_path):
    doc = load(_write(tmp_path, "\ufeffname: café\n".encode()))
    assert doc.data == {"name": "café"} and doc.line("name") == 1


@pytest.mark.parametrize("text, line", [
    ("LayerName:\n  fc1: {Moduli: [7, 8\n", 3),
    ("a: 1\nb: [1, 2]]\n", 2),
    ("a: 1\n  b: 2\n", 2),
    ("a: 1\nb: \x07\n", 2),  # a control character: PyYAML's reader refuses it
])
def test_invalid_yaml_names_the_line(tmp_path, text, line):
    path = _write(tmp_path, text)
    message = _error(path)
    assert message.startswith(f"{path}:{line}: not valid YAML"), message


@pytest.mark.parametrize("text, kind", [("- a\n- b\n", "list"), ("42\n", "int"), ("just text\n", "str")])
def test_top_level_must_be_a_mapping(tmp_path, text, kind):
    path = _write(tmp_path, text)
    message = _error(path, expected="a mapping of sections")
    assert message == f"{path}:1: the top level must be a mapping of sections; got a {kind}"


def test_python_tags_are_not_constructed(tmp_path):
    path = _write(tmp_path, "a: !!python/object/apply:os.system ['echo hacked']\n")
    assert "not valid YAML" in _error(path)


def test_aliases_are_walked_once_and_recursive_ones_refused(tmp_path):
    doc = load(_write(tmp_path, "base: &b {x: 1}\nuse: *b\n"))
    assert doc.data["use"] == {"x": 1} and doc.line("base", "x") == 1
    assert doc.where("use", "x") == f"{doc.path}:2"  # the alias's own line
    # ten levels of ten aliases each: 10**10 paths, but each node is walked once
    levels = ["l0: &l0 [x]"] + [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 10)]
    doc = load(_write(tmp_path, "\n".join(levels) + "\n", "wide.yml"))
    assert len(doc.lines) < 200
    message = _error(_write(tmp_path, "a: &a\n  b: *a\n", "loop.yml"))
    assert "recursive" in message and "a.b" in message
