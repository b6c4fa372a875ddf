"""hls4ml backends ``Bitshift`` and ``RNS``, registered through the ``hls4ml.backends`` entry point.

Importing hls4ml loads them (``plugin.register``), and that imports the modules of this package.
So hls4ml is imported first here: a module of this package imported before hls4ml would
otherwise be re-entered half-initialised by the plugin loader.
"""
import hls4ml  # noqa: F401 (see above)
