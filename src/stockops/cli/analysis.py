"""`stockops analyze`'s console side: a spinner per graph node, the report as rich Markdown, and its
errors as one line with the exit code of their kind (2: bad input, 1: the LLM or anything else)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console

from stockops.cli.errors import err_console, one_line_errors

NODE_LABELS = {
    "forecast": "reading the forecast",
    "semantic_cache": "semantic cache",
    "forecast_analyst": "forecast analyst",
    "market_analyst": "market analyst",
    "writer": "writer",
    "critic": "critic",
    "finish": "report",
}


@contextmanager
def analysis_errors() -> Iterator[None]:
    """Analysis errors print ``error: ...``; bad input exits 2, an unavailable LLM 1; others as usual."""
    from stockops.agent.errors import AnalysisError

    try:
        with one_line_errors():
            yield
    except AnalysisError as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        err_console.print(f"[bold red]error:[/] {message} ({exc.reason})", highlight=False, soft_wrap=True)
        raise typer.Exit(code=exc.exit_code) from None


@contextmanager
def node_progress(*, enabled: bool) -> Iterator[Any]:
    """A progress callback for `run_analysis`: one spinner line per node run, ticked when it is done."""
    if not enabled:
        yield None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    lock = threading.Lock()
    tasks: dict[str, Any] = {}
    rounds: dict[str, int] = {}
    with Progress(
        SpinnerColumn(finished_text="[green]✓[/]"),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    ) as bar:

        def progress(event: str, node: str, detail: str) -> None:
            with lock:
                label = NODE_LABELS.get(node, node)
                if event == "start":
                    rounds[node] = rounds.get(node, 0) + 1
                    if node in ("writer", "critic") and rounds[node] > 1:
                        label = f"{label} (round {rounds[node]})"
                    tasks[node] = (bar.add_task(label, total=1), label)
                elif node in tasks:
                    task, shown = tasks[node]
                    bar.update(task, completed=1, description=f"{shown}: [dim]{detail}[/]")

        yield progress


def print_report(console: Console, result: Any) -> None:
    from rich.markdown import Markdown

    if result.cached:
        similarity = result.cache.similarity
        console.print(
            f"[yellow]cached:[/] an earlier report on the same model version and data date "
            f"(question similarity {similarity:.3f})"
        )
    elif result.cache.note and not result.cache.enabled:
        console.print(f"[dim]{result.cache.note}[/]")
    console.print(Markdown(result.report_markdown))
    where = f"; MLflow run {result.mlflow_run_id}" if result.mlflow_run_id else ""
    console.print(
        f"[dim]generator {result.generator}, critic score {result.critic_score:.2f}, "
        f"{result.revisions} revision(s), {result.seconds:.1f}s{where}[/]"
    )
