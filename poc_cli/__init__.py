"""poc: measure whether RandLoRA pays off against LoRA and full fine-tuning on your own model and data."""

import logging

__version__ = "0.1.0"

# Libraries peft imports where they are installed talk at import: bitsandbytes warns that it could not
# fetch a CPU kernel from the hub, the kernels package that it skipped a trust check. Neither concerns
# poc (its 4- and 8-bit bases run on GPUs), and poc's errors and tables are one line each. Set here so
# that every process poc starts (the command, the job server, Ray workers) is quiet alike; their errors
# still show.
for _name in ("bitsandbytes", "kernels"):
    logging.getLogger(_name).setLevel(logging.ERROR)
