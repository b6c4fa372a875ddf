"""arith4ml: hardware-friendly arithmetic from Keras to bit-exact HLS C++.

Importing ``toolchain`` is cheap (no TensorFlow); the hls4ml backends are
registered through the ``hls4ml.backends`` entry point when hls4ml loads.
"""
__version__ = "0.1.0"
