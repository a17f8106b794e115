"""The promotion gate: when a new version may take the `production` alias.

A pure decision, so the rule is unit-tested and the CLI, trainer and operator report the same reason.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PromotionDecision:
    promote: bool
    reason: str


def decide_promotion(
    *, new_version: str, new_skill: float, min_skill: float, current_version: str | None
) -> PromotionDecision:
    """Promote only when the test skill passes the gate; otherwise the current production stays.

    Skill is 1 - RMSE_model / RMSE_random_walk on the test split, so the gate compares the model with
    the naive forecast rather than with an earlier version that may have been trained on other data.
    """
    if new_skill != new_skill:  # NaN never passes a gate
        return PromotionDecision(False, f"version {new_version} has no finite test skill; not promoted")
    if new_skill >= min_skill:
        replaced = f" (replaces version {current_version})" if current_version else ""
        return PromotionDecision(
            True, f"version {new_version} promoted: skill {new_skill:+.4f} >= gate {min_skill:+.4f}{replaced}"
        )
    kept = (
        f"version {current_version} stays production" if current_version else "no version is production yet"
    )
    return PromotionDecision(
        False, f"version {new_version} not promoted: skill {new_skill:+.4f} < gate {min_skill:+.4f}; {kept}"
    )
