"""The `stockops` command line (typer + rich)."""
