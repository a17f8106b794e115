"""`python -m stockops` is the `stockops` CLI (run optimized: see `stockops.launch`)."""

from stockops.launch import exec_optimized

exec_optimized("stockops")

from stockops.cli.app import main  # noqa: E402  (after the re-exec: nothing heavy imported twice)

main()
