"""Starting the gateway: settings, keys, the app, uvicorn, and the lines a user reads at start.

Shared by ``stockops gateway`` and ``python -m stockops.gateway`` (the image). Locally, a keys file
without keys gets a first admin key, printed once (only its digest is stored) with the command that
makes more: that is how a first key is obtained. In a cluster the keys file is a mounted Secret; a
missing one stops the start with a message saying so (a gateway nobody can call helps nobody).
The banner is printed once the socket is bound, so a port already in use never shows a URL.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stockops.config import Settings, load_settings
from stockops.gateway.settings import GatewaySettings, load_gateway_settings

KEY_HINT = "stockops gateway-key create --scopes read,train --name NAME"


def banner(
    config: GatewaySettings, url: str, keys_path: Path, first_key: str | None, key_count: int
) -> list[str]:
    lines = [
        f"StockOps gateway ({config.mode} mode) on {url}",
        f"  console:  {url}/",
        f"  API docs: {url}/docs",
    ]
    if first_key is not None:
        lines += [
            f"  first admin key (shown only now; {keys_path} keeps its SHA-256 digest):",
            f"    {first_key}",
            f"  more keys: {KEY_HINT}",
        ]
    else:
        lines.append(f"  API keys: {key_count} in {keys_path} (new ones: {KEY_HINT})")
    return lines


def _url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def prepare_keys(settings: Settings, config: GatewaySettings) -> tuple[Path, str | None, int]:
    """(keys file, the first key if one was just created, how many keys there are)."""
    from stockops.gateway.auth import ensure_first_key, parse_key_file

    path = config.keys_path(settings.home_dir)
    first = None
    if config.mode == "local":
        first = ensure_first_key(path)
    elif not path.is_file():
        raise RuntimeError(
            f"no API keys file at {path}: mount the gateway's keys Secret there "
            "(or set STOCKOPS_GATEWAY_KEYS_FILE)"
        )
    return path, first, len(parse_key_file(path.read_text(), str(path)))


def run(host: str | None = None, port: int | None = None, *, echo: Callable[[str], Any] = print) -> None:
    """Serve until interrupted (SIGINT/SIGTERM)."""
    import uvicorn

    from stockops.gateway.app import create_app
    from stockops.quiet import quiet_third_party

    settings = load_settings()
    config = load_gateway_settings()
    quiet_third_party(verbose=settings.verbose)
    host = host or config.host
    port = port or config.port
    keys_path, first_key, count = prepare_keys(settings, config)
    app = create_app(settings, config)
    lines = banner(config, _url(host, port), keys_path, first_key, count)

    class AnnouncingServer(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                for line in lines:
                    echo(line)

    level = "info" if settings.verbose else "warning"
    uv_config = uvicorn.Config(
        app, host=host, port=port, log_level=level, access_log=settings.verbose, server_header=False
    )
    logging.getLogger("stockops").setLevel(logging.INFO if settings.verbose else logging.WARNING)
    try:
        AnnouncingServer(uv_config).run()  # SIGTERM: uvicorn re-raises it after its shutdown, ending us
    finally:
        _exit_if_busy(app, echo)


def _exit_if_busy(app: Any, echo: Callable[[str], Any]) -> None:
    running = getattr(app.state.gateway.backend, "running", lambda: [])()
    if running:
        # Worker threads are joined at interpreter exit: without this a stop would wait for every
        # running training. Their tasks are marked Interrupted at the next start (the task store).
        echo(
            f"stopped with {len(running)} task(s) unfinished ({', '.join(running)}): "
            "they are marked Interrupted at the next start"
        )
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
