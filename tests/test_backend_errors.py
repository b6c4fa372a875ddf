"""Conversion-time errors of the backends through hls4ml's own Python API: each names the layer."""
from __future__ import annotations

import pytest

from tests import zoo
from toolchain.errors import Arith4mlError


@pytest.mark.parametrize("layer_cfg, needle", [
    ({"Moduli": [6, 9]}, r"layer fc: .*coprime"),
    ({"Moduli": [3, 4]}, r"layer fc: .*bits? missing"),
    ({"Reverse": "fast"}, r"layer fc: Reverse 'fast'"),
    ({"Arithmetic": "bitshift"}, r"layer fc: Arithmetic 'bitshift' is not offered by the RNS backend"),
])
def test_rns_layer_config_errors_name_the_layer(tmp_path, layer_cfg, needle):
    from qkeras import quantized_po2

    with pytest.raises(Arith4mlError, match=needle):
        zoo.convert(zoo.dense(quantized_po2(4, 1)), "RNS", tmp_path / "prj", layer_config={"fc": layer_cfg},
                    compile=False)


@pytest.mark.parametrize("backend", ["Bitshift", "RNS"])
def test_binary_xnor_kernels_are_refused(tmp_path, backend):
    # hls4ml stores binary() weights as XNOR bits (0 meaning -1); reading them as integers would
    # silently zero every -1 weight
    from qkeras import binary

    with pytest.raises(Arith4mlError, match="layer fc: binary"):
        zoo.convert(zoo.dense(binary(alpha=1)), backend, tmp_path / "prj", compile=False)
