"""hls4ml backends ``Bitshift`` and ``RNS``, registered through the ``hls4ml.backends`` entry point.

Import of this package does not import hls4ml; ``plugin.register`` (called by
hls4ml's plugin loader) does.
"""
