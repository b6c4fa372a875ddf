"""The registry of dot-product kernels: one module per datapath, one name each in ``KERNEL_MODULES``.

Each module defines ``KERNEL``, an instance of its :class:`~toolchain.kernels.base.Kernel`
subclass.  A backend offers an ordered tuple of kernel names (``Arithmetic: auto``
takes the first that suits a layer); ``Arithmetic: <name>`` requests the kernel
whose ``arithmetic`` is that name.  Adding a kernel: docs/architecture.md.
"""
from __future__ import annotations

import importlib

from toolchain.kernels.base import Kernel, Option, WeightArray

KERNEL_MODULES = ("shift", "nk", "mult", "rns", "approx")

KERNELS: dict[str, Kernel] = {}
for _module in KERNEL_MODULES:
    _kernel = importlib.import_module(f"{__name__}.{_module}").KERNEL
    KERNELS[_kernel.name] = _kernel

__all__ = ["KERNELS", "KERNEL_MODULES", "Kernel", "Option", "WeightArray", "get"]


def get(name: str) -> Kernel:
    """The registered kernel called ``name`` (KeyError lists the known ones)."""
    try:
        return KERNELS[name]
    except KeyError:
        raise KeyError(f"unknown kernel '{name}'; registered: {', '.join(KERNELS)}") from None
