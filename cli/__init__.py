"""llmimc_cli: the typer front end. Parses arguments, calls one library function, renders the result."""
