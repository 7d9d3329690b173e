"""One module per command: its logic, its helpers and its typed result. `headstart.api` is the facade over them."""
