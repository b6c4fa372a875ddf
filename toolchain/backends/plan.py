"""Transitional: the dot-product plan moved to ``toolchain.kernels.plan``; the config keys are the
backends' hls4ml attributes now.  Kept only for the modules not yet switched over (project.py)."""
from toolchain.kernels.plan import RESULT_WIDTH_CAP, DotPlan, Geometry  # noqa: F401

CONFIG_KEYS = ("Arithmetic", "Moduli", "Reverse", "NK")
ARITHMETICS = {"bitshift": ("auto", "bitshift", "nk", "mult"), "rns": ("auto", "rns")}
