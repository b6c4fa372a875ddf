"""Bit-exact NumPy references of every arithmetic arith4ml emits.

No Keras and no hls4ml imports here: these modules are the oracle that the
C++ kernels and the Keras emulation are both checked against.

Modules: ``fixed`` (ap_fixed quantisation), ``pot`` (power-of-two weights,
bitshift-accumulate), ``ternary`` (ternary and (N,k) structured coding),
``rns`` (residue number system), ``approx`` (ROUP and table multipliers),
``essop`` (stochastic-computing outer product).
"""
from toolchain.errors import ArithValueError

__all__ = ["ArithValueError"]
