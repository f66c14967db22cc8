"""Can bitsandbytes' 4- and 8-bit layers run on a GPU here? Found by running them, not by importing.

A bitsandbytes that imports can still fail at its first kernel: a wheel built for another CUDA,
a GPU its kernels do not cover, a missing native library. A QLoRA job would find that after its
weights load. So the check runs one 4-bit and one 8-bit layer forward on the GPU, in a process of
its own: importing bitsandbytes initialises CUDA and prints about kernels it cannot fetch, neither
of which may happen in the process that plans, forks jobs or renders tables.
"""

from __future__ import annotations

import subprocess
import sys
from functools import lru_cache

GPU_EXTRA = "pip install 'poc-cli[gpu]'"  # what installs bitsandbytes


TIMEOUT_S = 180
CHECK = """
import sys, torch
import bitsandbytes as bnb
for index in map(int, sys.argv[1:]):
    print("checking", index, flush=True)  # the last one printed is the GPU a failure is on
    device = torch.device("cuda", index)
    capable = torch.cuda.get_device_capability(device)[0] >= 8
    x = torch.randn(4, 64, device=device, dtype=torch.bfloat16 if capable else torch.float16)
    four = bnb.nn.Linear4bit(64, 64, compute_dtype=x.dtype, quant_type="nf4").to(device)
    eight = bnb.nn.Linear8bitLt(64, 64, has_fp16_weights=False).to(device)
    assert torch.isfinite(four(x)).all() and torch.isfinite(eight(x.half())).all()
    torch.cuda.synchronize(device)
print("ok", bnb.__version__)
"""


@lru_cache(maxsize=None)
def bitsandbytes_problem(*device_indices: int) -> str | None:
    """Why bitsandbytes' layers cannot run on one of the CUDA devices `device_indices` (None: they ran on
    each). Every GPU a job may be given is checked, in one process: a machine can mix GPUs that its
    kernels cover with some they do not."""
    shown = ", ".join(f"cuda:{i}" for i in device_indices)
    try:
        result = subprocess.run([sys.executable, "-c", CHECK, *map(str, device_indices)], capture_output=True,
                                text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return f"bitsandbytes' 4- and 8-bit layers did not finish one forward pass on {shown} in {TIMEOUT_S} s"
    if result.returncode == 0 and result.stdout.splitlines()[-1:] and result.stdout.splitlines()[-1].startswith("ok"):
        return None
    lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    if any("No module named 'bitsandbytes'" in line for line in lines):
        return f"bitsandbytes is not installed: {GPU_EXTRA}"
    reached = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("checking ")]
    where = f"cuda:{reached[-1]}" if reached else shown
    last = lines[-1] if lines else f"exit code {result.returncode}"
    return f"bitsandbytes' 4- and 8-bit layers failed on {where} ({last[:300]})"
