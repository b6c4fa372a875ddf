"""Optimizer passes and templates of the arith4ml backends (discovered by hls4ml's backend loader)."""
