"""One module per ``hazmon`` subcommand.

Each module has ``register(commands)``, which adds its parser and sets
``handler=run``; ``run(args, console) -> int`` returns the exit status. A new
command is a new module here plus one line in :data:`hazmon.acquisition.cli.COMMANDS`.
"""
