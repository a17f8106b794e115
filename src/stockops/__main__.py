"""`python -m stockops` is the `stockops` CLI."""

from stockops.cli.app import main

main()
