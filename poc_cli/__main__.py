"""Allow `python -m poc_cli`."""

from poc_cli.cli import main

main()
