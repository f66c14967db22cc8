"""Whether an error means the job ran out of memory, wherever the allocation failed.

torch raises its own OutOfMemoryError for the caching allocator, but the CUDA libraries it calls
allocate too: cuBLAS and cuDNN report a failed allocation of a handle or workspace as a plain
RuntimeError ("CUBLAS_STATUS_ALLOC_FAILED"), cuBLAS a handle it could not create on a full GPU as
"CUBLAS_STATUS_NOT_INITIALIZED" (its first call finds no memory left for its workspace), and the
CPU allocator as "can't allocate memory".
Each is out of memory: the job's record says `oom` and the advice is to make the job smaller,
not to look for a bug.
"""

from __future__ import annotations

import torch

MARKERS = ("out of memory", "can't allocate memory", "CUBLAS_STATUS_ALLOC_FAILED", "CUBLAS_STATUS_NOT_INITIALIZED",
           "CUDNN_STATUS_ALLOC_FAILED")


def is_out_of_memory(exc: BaseException) -> bool:
    """torch's GPU out-of-memory error, Python's MemoryError, or a RuntimeError a library raised for
    a failed allocation."""
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    return isinstance(exc, RuntimeError) and any(marker in str(exc) for marker in MARKERS)
