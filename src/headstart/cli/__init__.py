"""The `headstart` command line: thin commands over `headstart.api`."""
