"""Shared fixtures: quiet TensorFlow, the ap_types include directory, a g++ helper."""
from __future__ import annotations

import os
import shutil
import subprocess
import warnings
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", message=".*pyparsing.*")


def ap_types_dir() -> Path:
    """Directory with the ap_fixed headers that hls4ml ships (found without importing hls4ml)."""
    import importlib.util

    spec = importlib.util.find_spec("hls4ml")
    assert spec is not None and spec.origin, "hls4ml is not installed"
    return Path(spec.origin).parent / "templates" / "vivado" / "ap_types"


@pytest.fixture(scope="session")
def gxx():
    """Compile a C++ source string to an executable; returns a function(src, name) -> Path."""
    if shutil.which("g++") is None:
        pytest.skip("g++ not on PATH")

    def build(src: str, workdir: Path, name: str = "prog") -> Path:
        cpp = workdir / f"{name}.cpp"
        exe = workdir / name
        cpp.write_text(src)
        subprocess.run(["g++", "-O1", "-std=c++14", f"-I{ap_types_dir()}", str(cpp), "-o", str(exe)],
                       check=True, capture_output=True, text=True)
        return exe

    return build
