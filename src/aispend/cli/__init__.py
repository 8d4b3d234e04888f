"""The `aispend` command line (Typer). Thin: parse, call a service, render."""
