"""Rich table of a drift check (pure: the summary's dict in, a renderable out)."""

from __future__ import annotations

from typing import Any

from rich.table import Table

VERDICT_STYLE = {"NoDrift": "green", "Drifted": "bold red", "InsufficientData": "yellow"}


def drift_table(payload: dict[str, Any], title: str) -> Table:
    """One row per input column: test, score, threshold, drifted; untestable columns say why."""
    table = Table(title=title)
    for name, justify in (
        ("feature", "left"),
        ("test", "left"),
        ("score", "right"),
        ("threshold", "right"),
        ("drifted", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in payload.get("features", []):
        kind = "p" if row["score_kind"] == "p_value" else "d"
        table.add_row(
            row["column"],
            row["stattest"],
            f"{kind}={row['score']:.4g}",
            f"{row['threshold']:g}",
            "[bold red]yes[/]" if row["drifted"] else "no",
        )
    for row in payload.get("untestable", []):
        table.add_row(row["column"], "[dim]not testable[/]", "-", "-", f"[dim]{row['reason']}[/]")
    return table


def verdict_line(payload: dict[str, Any]) -> str:
    verdict = payload["verdict"]
    style = VERDICT_STYLE.get(verdict, "bold")
    share = payload.get("share")
    share_text = (
        "" if share is None else f" (share drifted {share:.2f}, threshold {payload['drift_share']:g})"
    )
    window = ""
    if payload.get("current_start"):
        window = f"; current {payload['current_start']}..{payload['current_end']}"
    return (
        f"[{style}]{verdict}[/]{share_text}: {payload['message']} "
        f"[{payload['current_rows']} current vs {payload['reference_rows']} reference rows{window}]"
    )


LIVE_STYLE = {"Ok": "bold green", "Degraded": "bold red", "InsufficientData": "bold yellow"}


def live_line(live: dict[str, Any]) -> str:
    """The realised error of served forecasts in one line (`RealisedError.to_dict()`)."""
    verdict = live["verdict"]
    style = LIVE_STYLE.get(verdict, "bold")
    if live.get("skill") is None:
        return f"live error: [{style}]{verdict}[/]: {live.get('message') or 'nothing to score'}"

    def num(key: str, digits: int = 3) -> str:
        value = live.get(key)
        return "n/a" if value is None else f"{value:.{digits}f}"

    return (
        f"live error: [{style}]{verdict}[/] over {live['n_forecasts']} served forecasts "
        f"({live.get('first_as_of')}..{live.get('last_as_of')}): RMSE {num('rmse', 2)} vs random walk "
        f"{num('naive_rmse', 2)}, skill {num('skill')} [95% {num('skill_ci_low')}, {num('skill_ci_high')}], "
        f"coverage {num('coverage', 2)} (nominal 0.80), direction {num('directional_accuracy', 2)}"
    )
