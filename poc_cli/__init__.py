"""poc: measure whether RandLoRA pays off against LoRA and full fine-tuning on your own model and data."""

__version__ = "0.1.0"
