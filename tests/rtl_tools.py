"""Skip markers of the RTL tests: each names the missing tool and how the project installs it (``make tools``)."""
from __future__ import annotations

import shutil

import pytest

needs_iverilog = pytest.mark.skipif(shutil.which("iverilog") is None or shutil.which("vvp") is None,
                                    reason="iverilog/vvp not installed (Debian package 'iverilog'; make tools)")
needs_verilator = pytest.mark.skipif(shutil.which("verilator") is None,
                                     reason="verilator not installed (Debian package 'verilator'; make tools)")
needs_yosys = pytest.mark.skipif(shutil.which("yosys") is None,
                                 reason="yosys not installed (Debian package 'yosys'; make tools)")

__all__ = ["needs_iverilog", "needs_verilator", "needs_yosys"]
