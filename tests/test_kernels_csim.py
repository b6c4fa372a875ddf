"""Kernel features that only the C++ can show: RNS with moduli near 2^20 (M ~ 2^60: the division-free CRT sum
sum_j M_j z_j < 3M needs 62 bits, the lazy channel sums (m - 1) + n_in (m - 1)^2 about 44) and both reverse
conversions, C-simulated with g++ and compared bit for bit with the reference."""
from __future__ import annotations

import numpy as np
import pytest

from tests import zoo

pytestmark = pytest.mark.slow

WIDE_MODULI = [2**20 - 1, 2**20, 2**20 + 1]  # M ~ 2^60


@pytest.mark.parametrize("reverse", ["crt", "mrc"])
def test_rns_wide_crt_sum_csim_equals_reference(tmp_path, reverse):
    from toolchain import reference

    model = zoo.mlp(21, "po2", widths=(9, 7, 3))
    hm = zoo.convert(model, "RNS", tmp_path / "prj", layer_config={"*": {"Moduli": WIDE_MODULI, "Reverse": reverse}})
    params = (tmp_path / "prj" / "firmware" / "parameters.h").read_text()
    assert "moduli_list<1048575ULL, 1048576ULL, 1048577ULL>" in params
    assert f"use_crt = {str(reverse == 'crt').lower()}" in params
    plans = [n.get_attr("arith_plan") for n in hm.get_layers() if n.get_attr("arith_plan") is not None]
    assert [p.encoding.moduli for p in plans] == [tuple(WIDE_MODULI)] * 2
    x = zoo.raw_inputs(22, model.input_shape[1:])
    y = hm.predict(x)
    assert np.array_equal(y, reference.predict(hm, x))
    assert np.mean(np.argmax(y, 1) == np.argmax(model.predict(np.clip(x, -30, 30), verbose=0), 1)) > 0.5
