"""What counts as out of memory: the allocators' errors and the CUDA libraries' failed allocations."""

from __future__ import annotations

import torch

from poc_cli.oom import is_out_of_memory


def test_out_of_memory_errors_are_told_apart_from_failures() -> None:
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))  # a GPU's
    assert is_out_of_memory(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 8"))
    assert is_out_of_memory(MemoryError())
    # cuBLAS creating its handle or workspace on a full GPU: a RuntimeError, not torch's OutOfMemoryError
    assert is_out_of_memory(RuntimeError("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`"))
    assert not is_out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    assert not is_out_of_memory(ValueError("out of memory"))  # only the allocators' errors
