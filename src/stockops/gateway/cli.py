"""``stockops gateway`` and ``stockops gateway-key ...``: the gateway's commands, registered by
`stockops.cli.app`. Light at import (typer only), like every command module: the web stack is imported
when the command runs.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

key_app = typer.Typer(
    help="API keys of the gateway: create (printed once), list, revoke.", no_args_is_help=True
)

KeysFileOpt = Annotated[
    str | None,
    typer.Option(
        "--keys-file", help="Default: STOCKOPS_GATEWAY_KEYS_FILE or $STOCKOPS_HOME/gateway/keys.json."
    ),
]


def gateway(
    port: Annotated[int | None, typer.Option("--port", min=1, max=65535, help="Default 8000.")] = None,
    host: Annotated[
        str | None,
        typer.Option("--host", help="Listen address (default 127.0.0.1: this machine only; 0.0.0.0: all)."),
    ] = None,
) -> None:
    """The HTTP API and web console on this machine (local mode; prints the URL and how to get a key)."""
    from stockops.cli.errors import one_line_errors
    from stockops.gateway.server import run

    with one_line_errors():
        try:
            run(host, port, echo=typer.echo)
        except RuntimeError as exc:
            raise ValueError(str(exc)) from None


def _keys_path(keys_file: str | None) -> object:
    from pathlib import Path

    from stockops.config import load_settings
    from stockops.gateway.settings import load_gateway_settings

    if keys_file:
        return Path(keys_file).expanduser()
    return load_gateway_settings().keys_path(load_settings().home_dir)


@key_app.command("create")
def key_create(
    name: Annotated[str, typer.Option("--name", help="What the key is for (unique), e.g. ci or alice.")],
    scopes: Annotated[str, typer.Option("--scopes", help="Comma-separated: read, train, admin.")] = "read",
    keys_file: KeysFileOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create a key and print it once; only its SHA-256 digest is stored."""
    from stockops.cli.errors import one_line_errors
    from stockops.gateway.auth import add_key, parse_scopes

    with one_line_errors():
        path = _keys_path(keys_file)
        chosen = parse_scopes(scopes)
        key = add_key(path, name, chosen)  # type: ignore[arg-type]
    ordered = [s for s in ("read", "train", "admin") if s in chosen]
    if as_json:
        typer.echo(json.dumps({"name": name, "scopes": ordered, "key": key, "keys_file": str(path)}))
        return
    typer.echo(f"key {name!r} ({', '.join(ordered)}), shown only now; {path} keeps its SHA-256 digest:")
    typer.echo(key)


@key_app.command("list")
def key_list(keys_file: KeysFileOpt = None) -> None:
    """Names, scopes and creation times of the keys (never the keys: they are not stored)."""
    from stockops.cli.errors import one_line_errors
    from stockops.gateway.auth import parse_key_file

    with one_line_errors():
        path = _keys_path(keys_file)
        entries = parse_key_file(path.read_text(), str(path)) if path.exists() else ()  # type: ignore[attr-defined]
    for entry in entries:
        scopes = ",".join(s for s in ("read", "train", "admin") if s in entry.scopes)
        typer.echo(f"{entry.name}\t{scopes}\t{entry.created or '-'}")
    if not entries:
        typer.echo(f"no keys in {path}")


@key_app.command("revoke")
def key_revoke(
    name: Annotated[str, typer.Argument(help="The key's name.")], keys_file: KeysFileOpt = None
) -> None:
    """Delete a key; a running gateway refuses it from its next request on."""
    from stockops.cli.errors import one_line_errors
    from stockops.gateway.auth import revoke_key

    with one_line_errors():
        path = _keys_path(keys_file)
        if not revoke_key(path, name):  # type: ignore[arg-type]
            raise ValueError(f"no key named {name!r} in {path}")
    typer.echo(f"revoked {name!r}")
