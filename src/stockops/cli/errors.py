"""Turning known failures into one clear line and a non-zero exit, instead of a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

err_console = Console(stderr=True)


def _known_errors() -> tuple[type[BaseException], ...]:
    from stockops.data.errors import DataError

    known: list[type[BaseException]] = [DataError, ValueError, FileNotFoundError]
    try:
        from stockops.model.transfer import TransferError
        from stockops.registry.loading import ModelNotFoundError

        known += [TransferError, ModelNotFoundError]
    except ImportError:  # a light install without the ML extra
        pass
    return tuple(known)


@contextmanager
def one_line_errors() -> Iterator[None]:
    """Known problems (no data, corrupt file, missing parent) print `error: ...` and exit 1."""
    try:
        yield
    except _known_errors() as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=1) from None
