"""`python -m headstart` runs the CLI."""

from headstart.cli.main import run

run()
