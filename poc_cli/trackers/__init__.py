"""Measurements, one module each: timing, host memory, NVML (GPU memory and energy).

Each tracker is a context manager (or a sampler with start/stop) whose result is a frozen
dataclass with units in its field names. A measurement that could not be taken is None
with a reason beside it, never a zero.
"""
