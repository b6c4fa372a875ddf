"""The energy estimate: the cost table (``toolchain.energy``), the kernels' operation counts and
``toolchain.estimate.energy_estimate``, and ``arith4ml report``'s energy table and ``--cost-table``.

The hand-counted model: Input 4x4x1 -> Conv2D ``c1`` (2 filters, 2x2, no bias; 4 of its 8 weights non-zero)
-> Flatten -> Dense ``d`` (3 outputs, no bias; 7 of its 54 weights non-zero), power-of-two weights, converted
with the Bitshift backend (shift kernel, Latency).  Expected energies are computed here from the table's
numbers (8-bit add 0.03 pJ, 32-bit add 0.1 pJ, 8-bit multiply 0.2 pJ) with the rule docs/estimate.md states,
never from the code under test; the accumulator widths come from the plans (the resource estimate's tests cover
them).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from toolchain import energy
from toolchain.arith import approx
from toolchain.arith.fixed import FixedType
from toolchain.cli import main
from toolchain.errors import ConfigError

pytestmark = pytest.mark.xdist_group("energy")

ADD8, ADD32, MULT8 = 0.03, 0.1, 0.2  # the shipped table's figures, pJ

C1 = np.zeros((2, 2, 1, 2))
C1[0, 0, 0, 0], C1[0, 1, 0, 1], C1[1, 0, 0, 0], C1[1, 0, 0, 1] = 0.5, -1.0, 0.25, 0.5  # 4 non-zero
D = np.zeros((18, 3))
for i, o, v in ((0, 0, 1.0), (3, 0, -0.5), (5, 1, 0.25), (9, 1, 1.0), (11, 2, -1.0), (14, 2, 0.5), (17, 0, 0.125)):
    D[i, o] = v  # 7 non-zero
C1_PIXELS, C1_NZ, C1_DENSE = 9, 4, 4 * 2  # 3x3 outputs of a 2x2 filter on 4x4; n_in x n_out per pixel
D_NZ, D_DENSE = 7, 18 * 3


def _add(bits: int) -> float:
    """docs/estimate.md: b <= 8 bits: 0.03 b / 8; above, the line through (8, 0.03) and (32, 0.1)."""
    return ADD8 * bits / 8 if bits <= 8 else ADD8 + (bits - 8) * (ADD32 - ADD8) / 24


def _model():
    import tensorflow as tf

    # plain Keras layers with power-of-two weights (QKeras' quantized_po2 has no zero level): the Bitshift
    # backend picks the shift kernel for them, and a zero weight stays a zero
    inp = tf.keras.Input((4, 4, 1), name="x_in")
    h = tf.keras.layers.Conv2D(2, 2, use_bias=False, name="c1")(inp)
    h = tf.keras.layers.Flatten(name="flat")(h)
    out = tf.keras.layers.Dense(3, use_bias=False, name="d")(h)
    model = tf.keras.Model(inp, out)
    model.get_layer("c1").set_weights([C1])
    model.get_layer("d").set_weights([D])
    return model


@pytest.fixture(scope="module")
def prj(tmp_path_factory) -> Path:
    """The hand-counted model converted by ``arith4ml convert`` (Bitshift, io_parallel)."""
    path = tmp_path_factory.mktemp("model") / "hand.h5"
    _model().save(path)
    out = tmp_path_factory.mktemp("prj") / "prj"
    assert main(["convert", str(path), "--backend", "bitshift", "--board", "pynq-z2", "-o", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def hm(prj):
    from toolchain import project

    return project.reopen(prj, compile=False)[0]


def _plans(hm) -> dict:
    return {layer.name: layer.get_attr("arith_plan") for layer in hm.get_layers()
            if layer.get_attr("arith_plan") is not None}


def _expected(hm, add=_add, mult8=MULT8) -> dict[str, tuple[float, float]]:
    """(energy, baseline) per layer in pJ, counted by hand."""
    plans = _plans(hm)
    acc_c1, acc_d = plans["c1"].acc_type_width, plans["d"].acc_type_width
    return {"c1": (C1_PIXELS * C1_NZ * add(acc_c1), C1_PIXELS * C1_DENSE * (mult8 + add(acc_c1))),
            "d": (D_NZ * add(acc_d), D_DENSE * (mult8 + add(acc_d)))}


# ----------------------------------------------------------------------------- cost table and rules


def test_shipped_table_figures_and_rules():
    t = energy.load_cost_table()
    assert (t.add8, t.add32, t.mult8, t.mult32) == (0.03, 0.1, 0.2, 3.1)
    assert (t.fp16_add, t.fp16_mult, t.fp32_add, t.fp32_mult) == (0.4, 1.1, 0.9, 3.7)
    assert energy.op_energy("add", (8,)) == pytest.approx(0.03)
    assert energy.op_energy("add", (32,)) == pytest.approx(0.1)
    assert energy.op_energy("add", (4,)) == pytest.approx(0.015)
    assert energy.op_energy("add", (20,)) == pytest.approx(0.03 + 12 * 0.07 / 24)
    assert energy.op_energy("mult", (8, 8)) == pytest.approx(0.2)
    assert energy.op_energy("mult", (32, 32)) == pytest.approx(3.1)
    assert energy.op_energy("mult", (4, 8)) == pytest.approx(0.1)  # half the partial-product bits of 8 x 8
    assert energy.op_energy("shift_add", (16,)) == energy.op_energy("add", (16,))  # a constant shift is wiring
    assert energy.op_energy("shift", (16, 7)) == pytest.approx(3 * energy.op_energy("add", (16,)))  # 3 stages
    assert energy.op_energy("compare", (12,)) == energy.op_energy("add", (12,))
    # SRAM reads: the table's points, and a 256 x 16-bit ROM (512 bytes) by the sqrt(size) law below 8 KB
    assert energy.op_energy("rom", (1024, 64)) == pytest.approx(10.0)
    assert energy.op_energy("rom", (4096, 64)) == pytest.approx(20.0)
    assert energy.op_energy("rom", (1 << 17, 64)) == pytest.approx(100.0)
    assert energy.op_energy("table", (256, 16)) == pytest.approx(10 * (512 / 8192) ** 0.5 * 16 / 64)
    # residues: 255 = 2^8 - 1 (8-bit residues), 256 truncates
    assert energy.op_energy("mod_mac", (255,)) == pytest.approx(0.2 + 2 * _add(9))
    assert energy.op_energy("mod_mac", (256,)) == pytest.approx(0.2 + _add(8))
    with pytest.raises(ValueError, match="unknown operation kind"):
        energy.op_energy("divide", (8,))


def test_multiplier_energy():
    assert energy.exact_multiplier_energy() == pytest.approx(MULT8)
    assert energy.exact_multiplier_energy(32) == pytest.approx(3.1)
    assert energy.multiplier_energy(approx.ROUPMultiplier(0, 0)) == pytest.approx(MULT8)
    # ROUP(2, 3): 2 of 4 Booth partial products kept, 9 - 3 = 6 of their 9 bits; a 5-bit rounding incrementer
    assert energy.multiplier_energy(approx.ROUPMultiplier(2, 3)) == pytest.approx(MULT8 * 2 * 6 / 36 + _add(5))
    assert energy.multiplier_energy(approx.ROUPMultiplier(3, 0)) == pytest.approx(MULT8 / 4)
    energies = [energy.multiplier_energy(approx.ROUPMultiplier(k, 4)) for k in range(4)]
    assert energies == sorted(energies, reverse=True)  # more perforation, less energy
    # the exact table: products in [-16256, 16384] need 16 bits; one 256-entry column of 16-bit words
    assert energy.multiplier_op(approx.exact_table()) == ("table", (256, 16))
    assert energy.multiplier_energy(approx.exact_table()) == pytest.approx(10 * 0.25 * 0.25)


def _write_table(tmp_path, replace: tuple[str, str] | None = None, name: str = "t.yaml") -> Path:
    text = energy.DEFAULT_TABLE.read_text()
    if replace is not None:
        assert replace[0] in text
        text = text.replace(replace[0], replace[1])
    path = tmp_path / name
    path.write_text(text)
    return path


def _line_of(path: Path, key: str) -> int | None:
    """1-based line of ``section`` or ``section.sub`` in a cost-table file (None if absent)."""
    section, _, sub = key.partition(".")
    lines = path.read_text().splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(f"{section}:")), None)
    if start is None or not sub:
        return None if start is None else start + 1
    for i in range(start + 1, len(lines)):
        if lines[i] and not lines[i].startswith(" "):
            return None
        if lines[i].startswith(f"  {sub}:"):
            return i + 1
    return None


@pytest.mark.parametrize("replace, key, words", [
    (("  int32: 3.1\n", ""), "mult.int32", ["missing", "32-bit integer multiply"]),
    (("  int8: 0.03\n", "  int8: -0.03\n"), "add.int8", ["positive number of pJ", "-0.03"]),
    (("  32KB: 20\n", "  32KB: 0\n"), "sram_read_64bit.32KB", ["positive"]),
    (("  32KB: 20\n", "  32KB: lots\n"), "sram_read_64bit.32KB", ["positive", "'lots'"]),
    (("  int32: 0.1\n", "  int32: 0.01\n"), "add.int32", ["below add.int8"]),
    (("  int8: 0.2\n", "  int8: 0.2\n  int16: 0.7\n"), "mult.int16", ["unknown key"]),
    (("fp32:", "fp64:"), "fp64", ["unknown key"]),
])
def test_bad_cost_table(tmp_path, replace, key, words):
    path = _write_table(tmp_path, replace)
    with pytest.raises(ConfigError) as info:
        energy.load_cost_table(path)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}:")
    assert f": {key}: " in msg
    line = int(msg[len(str(path)) + 1:].split(":", 1)[0])
    # the key's own line, or (missing key) its section's
    assert line == (_line_of(path, key) or _line_of(path, key.partition(".")[0])), msg
    for w in words:
        assert w in msg, (w, msg)


def test_bad_yaml_and_missing_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nadd:\n  int8: [0.03\n")
    with pytest.raises(ConfigError) as info:
        energy.load_cost_table(path)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"{path}:") and "not valid YAML" in msg
    assert int(msg.split(":")[1]) >= 3
    with pytest.raises(ConfigError, match="does not exist"):
        energy.load_cost_table(tmp_path / "nope.yaml")
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="top level must be"):
        energy.load_cost_table(path)


# ----------------------------------------------------------------------------- kernels' operation counts


def _plan(kernel_name: str, w: np.ndarray, options: dict | None = None, x_type=FixedType(8, 4, True)):
    from toolchain.kernels import KERNELS
    from toolchain.kernels.plan import Geometry, build_plan, dot_core

    core = dot_core("fc", Geometry(n_chan=w.shape[0]), x_type, w, None)
    return build_plan(core, KERNELS[kernel_name], options or {})


def _counts(ops) -> dict[tuple[str, tuple[int, ...]], int]:
    return {(op.kind, op.params): op.count for op in energy.merge(ops)}


def test_mult_and_shift_operations():
    w = np.array([[3, 0, -5], [0, 7, 1], [2, 0, 0], [0, 0, 4]], dtype=np.float64) / 8
    plan = _plan("mult", w)
    acc = plan.acc_type_width
    word = plan.kernel.word_bits(plan)
    assert _counts(plan.kernel.operations(plan)) == {("mult", (8, word)): 6, ("add", (acc,)): 6}
    pot = np.array([[1, 0, -0.5], [0, 0.25, 1], [2, 0, 0], [0, 0, -1]])
    plan = _plan("shift", pot)
    assert _counts(plan.kernel.operations(plan)) == {("shift_add", (plan.acc_type_width,)): 6}
    assert plan.kernel.frame_operations(plan) == []


def test_folded_shift_reads_its_rom_and_shifts():
    from toolchain.kernels.fold import make_fold

    pot = np.array([[1, 0, -0.5], [0, 0.25, 1], [2, 0, 0], [0, 0, -1]])
    plan = _plan("shift", pot)
    plan.fold = make_fold("fc", 4, 3, 2, "resource")  # 2 fold steps of 6 terms
    ops = _counts(plan.kernel.operations(plan))
    word = plan.kernel.word_bits(plan)
    assert ops[("rom", (2, 6 * word))] == 2
    assert ops[("add", (plan.acc_type_width,))] == 6
    assert sum(c for (kind, _), c in ops.items() if kind == "shift") == 6


def test_rns_operations_count_residue_terms_and_conversions():
    rng = np.random.default_rng(0)
    w = rng.integers(-8, 8, size=(6, 4)).astype(np.float64)
    plan = _plan("rns", w, {"moduli": (31, 32, 33)})
    ops = _counts(plan.kernel.operations(plan))
    for m in (31, 32, 33):
        assert ops[("mod_mac", (m,))] == int(np.count_nonzero(np.mod(w.astype(np.int64), m)))
    reverse = _counts(plan.kernel.reverse_ops(plan))
    for key, count in reverse.items():
        if key[0] != "mod_mac":
            assert ops[key] == 4 * count  # one reverse conversion per output
    # one forward conversion per input value: 6 values (Dense); an 8-bit code is 2 chunks of 5 bits
    frame = _counts(plan.kernel.frame_operations(plan))
    assert frame == {key: 6 * c for key, c in _counts(plan.kernel.forward_ops(plan)).items()}
    forward = _counts(plan.kernel.forward_ops(plan))
    assert forward[("add", (6,))] == 1 + 1  # 31 and 33 each add their 2 chunks; 32 truncates
    assert forward[("mod_add", (31,))] == forward[("mod_add", (33,))] == 2  # final correction and the sign bit


# ----------------------------------------------------------------------------- the hand-counted model


def test_energy_estimate_hand_counted(hm):
    from toolchain import estimate

    en = estimate.energy_estimate(hm)
    expected = _expected(hm)
    layers = {e.layer: e for e in en.layers}
    assert set(layers) == {"c1", "d"}
    assert layers["c1"].pixels == C1_PIXELS
    assert layers["c1"].op_counts == {"shift_add": C1_PIXELS * C1_NZ}
    assert layers["d"].op_counts == {"shift_add": D_NZ}
    for name, (e, base) in expected.items():
        assert layers[name].energy_pj == pytest.approx(e)
        assert layers[name].baseline_pj == pytest.approx(base)
        assert layers[name].saving == pytest.approx(1 - e / base)
        assert layers[name].multiplier_pj == 0.0  # shift-add: no multiplier
    total, base = sum(e for e, _ in expected.values()), sum(b for _, b in expected.values())
    assert en.total_pj == pytest.approx(total) and en.baseline_pj == pytest.approx(base)
    assert en.saving == pytest.approx(1 - total / base)
    assert en.multiplier_pj == 0.0 and en.multiplier_saving == pytest.approx(1.0)
    assert en.multiplier_baseline_pj == pytest.approx((C1_PIXELS * C1_DENSE + D_DENSE) * MULT8)
    doc = en.as_dict()
    assert doc["total_pj"] == pytest.approx(total) and "not measurements" in doc["note"]
    json.dumps(doc)


def test_replaced_table_changes_the_numbers(hm, tmp_path):
    from toolchain import estimate

    text = energy.DEFAULT_TABLE.read_text().replace("  int8: 0.03\n", "  int8: 0.06\n") \
        .replace("  int32: 0.1\n", "  int32: 0.2\n").replace("  int8: 0.2\n", "  int8: 0.5\n")
    path = tmp_path / "double.yaml"
    path.write_text(text)
    table = energy.load_cost_table(path)
    en = estimate.energy_estimate(hm, table)
    expected = _expected(hm, add=lambda b: 2 * _add(b), mult8=0.5)
    assert en.total_pj == pytest.approx(sum(e for e, _ in expected.values()))
    assert en.baseline_pj == pytest.approx(sum(b for _, b in expected.values()))
    assert en.total_pj == pytest.approx(2 * estimate.energy_estimate(hm).total_pj)


# ----------------------------------------------------------------------------- arith4ml report


def _run(capsys, *args) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def test_report_prints_energy_and_writes_it(prj, hm, capsys, tmp_path):
    rc, out, err = _run(capsys, "report", prj)
    assert rc == 0, err
    assert "resource estimate" in out  # the existing output is still there, before the energy table
    assert out.index("resource estimate") < out.index("energy per inference")
    assert "not measurements" in out
    expected = _expected(hm)
    doc = json.loads((prj / "estimate.json").read_text())
    assert doc["energy"]["total_pj"] == pytest.approx(sum(e for e, _ in expected.values()))
    rows = {r["layer"]: r for r in doc["energy"]["layers"]}
    assert rows["c1"]["op_counts"] == {"shift_add": C1_PIXELS * C1_NZ}
    total_line = next(line for line in out.splitlines() if line.startswith("all layers"))
    assert f"{sum(e for e, _ in expected.values()) / 1000:.4g}" in total_line
    # a replacement table changes the numbers in the JSON
    cheap = _write_table(tmp_path, ("  int32: 0.1\n", "  int32: 0.05\n"), "cheap.yaml")
    cheap.write_text(cheap.read_text().replace("  int8: 0.03\n", "  int8: 0.015\n"))
    rc, out, err = _run(capsys, "report", prj, "--cost-table", cheap)
    assert rc == 0, err
    doc = json.loads((prj / "estimate.json").read_text())
    assert doc["energy"]["total_pj"] == pytest.approx(sum(e for e, _ in expected.values()) / 2)
    assert doc["energy"]["cost_table"]["path"] == str(cheap)


def test_report_bad_cost_table_exits_2_with_one_line(prj, capsys, tmp_path):
    bad = _write_table(tmp_path, ("  8KB: 10\n", "  8KB: -10\n"), "bad.yaml")
    before = (prj / "estimate.json").read_bytes() if (prj / "estimate.json").exists() else None
    rc, out, err = _run(capsys, "report", prj, "--cost-table", bad)
    assert rc == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert f"{bad}:{_line_of(bad, 'sram_read_64bit.8KB')}: sram_read_64bit.8KB: " in lines[0], err
    if before is not None:
        assert (prj / "estimate.json").read_bytes() == before  # nothing rewritten
