"""One module per `poc` command: it parses nothing itself (typer does, in cli.py), calls the library and
renders what it returns. cli.py registers each command's function with its one-line help."""
