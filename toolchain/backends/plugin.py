"""Entry point for hls4ml's plugin loader (``[project.entry-points."hls4ml.backends"]``)."""
from __future__ import annotations

from typing import Any, Callable


def register(*, register_backend: Callable[..., Any], register_writer: Callable[..., Any]) -> None:
    """Register the Bitshift, RNS and Approx backends and their writers with hls4ml."""
    from toolchain.backends.backend import ApproxBackend, BitshiftBackend, RNSBackend
    from toolchain.backends.writer import Arith4mlWriter

    for backend in (BitshiftBackend, RNSBackend, ApproxBackend):
        register_writer(backend.backend_name, Arith4mlWriter)
        register_backend(backend.backend_name, backend)
