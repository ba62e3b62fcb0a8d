"""One module per ``hazmon`` subcommand, imported only when that command runs.

Each module ``hazmon.acquisition.commands.<name>`` has ``register(commands)``, which adds
the parser of command ``<name>`` (with ``help=SUMMARIES[<name>]``) and sets
``handler=...``; a handler ``(args, console) -> int`` returns the exit status. The
modules may import numpy, SQLAlchemy, pymodbus and the rest at their top: the CLI
imports the one module of the command being run, so ``hazmon --help`` and
``hazmon --version`` pay for none of them.

A new command is a new module here plus its line in :data:`SUMMARIES`.
"""

#: Every subcommand with its one-line help, in the order ``hazmon --help`` lists them.
#: This module imports nothing: the CLI builds its top-level help from this table alone.
SUMMARIES: dict[str, str] = {
    "demo": "run the simulated demo site end to end (live table, alerts, SQLite)",
    "simulate": "run a site's simulated meters alone",
    "read": "read one meter once (Modbus, serial frames, serial ASCII, MQTT) and print it",
    "scan": "list serial ports, find answering unit ids, or find a register's byte order",
    "check": "validate a site config (no connections are made)",
    "run": "run a site: poll its meters, store, alert, publish (until SIGINT/SIGTERM)",
    "central": "central worker: judge and store kits' readings from a NATS JetStream cluster",
    "dead-letters": "list the meter messages a kit could not read (kept in its store)",
    "alerts": "list alert states or acknowledge an alert (over the site's MQTT broker)",
    "analyze": "evaluate a CSV datalog against every applicable limit",
    "hazards": "review hazard records and follow them through rectification",
    "report": "print the papers of an inspection as PDF (record, notice, review)",
    "serve": "serve the web desk: hazard list, inspections, workflow, statistics, live view",
    "users": "manage the web desk's accounts (add, passwd, disable, enable, list)",
}
