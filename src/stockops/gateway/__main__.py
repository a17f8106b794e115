"""`python -m stockops.gateway [--host H] [--port N]`: the gateway process (what the image runs).

Settings come from the environment (`stockops.gateway.settings`); the flags override host and port.
Runs optimized (`stockops.launch`), like every StockOps entry point.
"""

from __future__ import annotations

import argparse
import logging
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stockops.gateway", description=__doc__)
    parser.add_argument("--host", help="listen address (default STOCKOPS_GATEWAY_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default STOCKOPS_GATEWAY_PORT or 8000)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from stockops.gateway.server import run

    try:
        run(args.host, args.port, echo=lambda line: print(line, flush=True))
    except (RuntimeError, ValueError) as exc:  # bad settings, keys file or template: one line, exit 2
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    from stockops.launch import exec_optimized

    exec_optimized("stockops.gateway")
    sys.exit(main())
