"""Tasks: one module per task type (text classification first)."""
