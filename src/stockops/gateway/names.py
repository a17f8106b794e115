"""The gateway's two naming rules, shared by the local and the cluster backend and by the console.

- A ticker maps to a resource name by one rule (`resource_name`): lower case, ``^`` dropped, every other
  character outside ``[a-z0-9-]`` becomes ``-`` (``^GSPC`` -> ``gspc``, ``BRK.B`` -> ``brk-b``). In a
  cluster that is the ``metadata.name`` of the ticker's ParentModel / TickerModel; locally it names the
  task. Two tickers that differ only in ``.`` vs ``-`` (``BRK.B``, ``BRK-B``) share a name, as they share
  a registered model (`stockops.registry.naming.registered_model_name`).
- A task is ``<kind>/<name>/<generation>`` (`TaskId`): the resource kind in lower case, its name and the
  ``metadata.generation`` the status describes (locally: the n-th training of that name), so
  ``GET /status/{task_id}`` reads that resource's status.

Pure: no I/O, no third-party imports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, get_args

TaskKind = Literal["parentmodel", "tickermodel", "analysis"]
TASK_KINDS: tuple[str, ...] = get_args(TaskKind)
MODEL_KINDS: tuple[str, ...] = ("parentmodel", "tickermodel")

# The CRD's ticker pattern (stockops.crd.spec_blocks.TICKER_PATTERN), checked after upper-casing: a
# ticker the gateway accepts is one a TickerModel can hold.
TICKER_PATTERN = r"^\^?[A-Z0-9][A-Z0-9.\-]{0,14}$"
_TICKER = re.compile(TICKER_PATTERN)
# A Kubernetes object name (RFC 1123 label, at most 63 characters).
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_OUTSIDE = re.compile(r"[^a-z0-9-]")
_GENERATION = re.compile(r"^[1-9][0-9]{0,17}$")


def normalize_ticker(raw: str) -> str:
    """``" aapl "`` -> ``"AAPL"``; raises ValueError saying what a ticker looks like."""
    candidate = raw.strip().upper() if isinstance(raw, str) else ""
    if not _TICKER.fullmatch(candidate):
        shown = raw if isinstance(raw, str) else type(raw).__name__
        raise ValueError(
            f"{shown[:40]!r} is not a ticker: expected a symbol such as AAPL, ^GSPC or BRK.B (letters, "
            "digits, '.', '-', an optional leading '^', at most 16 characters)"
        )
    return candidate


def resource_name(ticker: str) -> str:
    """The resource name of a ticker: lower case, ``^`` dropped, other characters outside
    ``[a-z0-9-]`` replaced by ``-`` (``^GSPC`` -> ``gspc``, ``BRK.B`` -> ``brk-b``)."""
    name = _OUTSIDE.sub("-", ticker.strip().lower().replace("^", ""))
    if not name:
        raise ValueError(f"ticker {ticker!r} has no characters to name a resource after")
    return name


def task_kind(kind: Literal["parent", "child"]) -> TaskKind:
    """The task kind of a training: ``parent`` -> ``parentmodel``, ``child`` -> ``tickermodel``."""
    return "parentmodel" if kind == "parent" else "tickermodel"


@dataclass(frozen=True, order=True)
class TaskId:
    """``<kind>/<name>/<generation>``, e.g. ``tickermodel/aapl/1``."""

    kind: TaskKind
    name: str
    generation: int

    def __post_init__(self) -> None:
        if self.kind not in TASK_KINDS:
            raise ValueError(f"task kind {self.kind!r} is not one of {', '.join(TASK_KINDS)}")
        if not _NAME.fullmatch(self.name):
            raise ValueError(
                f"task name {self.name!r} is not a resource name (lower-case letters, digits and '-', "
                "starting and ending with a letter or digit, at most 63 characters)"
            )
        if isinstance(self.generation, bool) or not isinstance(self.generation, int) or self.generation < 1:
            raise ValueError(f"task generation {self.generation!r} must be a whole number >= 1")

    @classmethod
    def parse(cls, text: str) -> TaskId:
        """Parse ``<kind>/<name>/<generation>``; ValueError names the part at fault."""
        if not isinstance(text, str) or len(text) > 200:
            raise ValueError("task id must be a string of at most 200 characters")
        parts = text.split("/")
        if len(parts) != 3:
            raise ValueError(
                f"task id {text[:80]!r} must have three parts, <kind>/<name>/<generation> "
                f"(e.g. tickermodel/aapl/1), got {len(parts)}"
            )
        kind, name, generation = parts
        if kind not in TASK_KINDS:
            raise ValueError(f"task id kind {kind[:40]!r} is not one of {', '.join(TASK_KINDS)}")
        if not _GENERATION.fullmatch(generation):
            raise ValueError(f"task id generation {generation[:40]!r} must be a whole number >= 1")
        return cls(kind, name, int(generation))  # type: ignore[arg-type]

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}/{self.generation}"
