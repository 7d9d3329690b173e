"""`python -m headstart` runs the CLI."""

from headstart.cli.main import app

app(prog_name="headstart")
