"""The services the commands use: class expansion, studies and promotion decisions (tracking sits beside them)."""
