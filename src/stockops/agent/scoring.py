"""The agent evaluation: a score in [0, 1] for every report, from the critic's checks.

Each part is the share of its checks passed (1 when there was nothing to check): numbers (prose numbers
found in the facts), stance (restated stance and confidence, and no contradicting words), sections
(prose parts non-empty, required headings present). ``overall`` is their plain mean, so one wrong
number in twenty costs little and a contradicted stance costs a third. Logged to MLflow as
``critic_score`` with the report.
"""

from __future__ import annotations

from stockops.agent.report import ReportScore


def share_passed(total: int, failed: int) -> float:
    if total < 0 or failed < 0 or failed > total:
        raise ValueError(f"failed ({failed}) must be between 0 and total ({total})")
    return 1.0 if total == 0 else (total - failed) / total


def score_checks(
    *, numbers: tuple[int, int], stance: tuple[int, int], sections: tuple[int, int]
) -> ReportScore:
    """Each argument is (checks made, checks failed)."""
    parts = (share_passed(*numbers), share_passed(*stance), share_passed(*sections))
    return ReportScore(
        numbers=round(parts[0], 4),
        stance=round(parts[1], 4),
        sections=round(parts[2], 4),
        overall=round(sum(parts) / 3.0, 4),
        numbers_checked=numbers[0],
    )
