"""The promotion gate: when a new version may take the `production` alias.

Default rule: "not worse than the random walk". A version is promoted when

1. its test skill against the zero-drift random walk is at least ``min_skill`` (default 0), so a model
   shrunk to exactly the naive forecast (skill 0, "no edge over the random walk") passes and is served
   as such, while one that loses to the naive forecast never is; and
2. it is not significantly worse than the current production version on the same test days: the 95 %
   paired block-bootstrap interval of ``skill(new) - skill(production)`` must not lie entirely below 0.
   Only days the production version never trained on are compared (see
   :mod:`stockops.model.comparison`); when there are too few, the reason says the check was skipped.
3. it was not trained on synthetic prices, unless the caller allows it (``allow_synthetic``): the local
   CLI and demo do, so an offline first run ends with something to serve (labelled synthetic
   everywhere); in a cluster a resource must opt in with ``promotion.allowSynthetic: true``.

A pure decision, so the rule is unit-tested and the CLI, trainer and operator report the same reason,
which always names the figures.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MIN_SKILL = 0.0
NO_EDGE_LABEL = "no edge over the random walk"


@dataclass(frozen=True)
class PromotionDecision:
    promote: bool
    reason: str


@dataclass(frozen=True)
class VersionComparison:
    """skill(new) - skill(production) on the same test days, with its 95 % bootstrap interval.

    ``difference`` is None when the comparison could not be made; ``note`` then says why."""

    production_version: str
    difference: float | None
    low: float | None
    high: float | None
    n_windows: int
    note: str | None = None

    @property
    def significantly_worse(self) -> bool:
        return self.high is not None and self.high < 0.0

    def describe(self) -> str:
        if self.difference is None or self.low is None or self.high is None:
            return f"not compared with version {self.production_version}: {self.note or 'no common days'}"
        return (
            f"vs version {self.production_version} on {self.n_windows} common test windows: skill difference "
            f"{self.difference:+.4f} [95% {self.low:+.4f}, {self.high:+.4f}]"
        )


def decide_promotion(
    *,
    new_version: str,
    new_skill: float,
    min_skill: float,
    current_version: str | None,
    skill_interval: tuple[float | None, float | None] | None = None,
    comparison: VersionComparison | None = None,
    no_edge: bool = False,
    synthetic: bool = False,
    allow_synthetic: bool = True,
) -> PromotionDecision:
    """Promote only past every rule; otherwise the current production stays."""
    if new_skill != new_skill:  # NaN never passes a gate
        return PromotionDecision(False, f"version {new_version} has no finite test skill; not promoted")
    if synthetic and not allow_synthetic:
        kept = f"version {current_version} stays production" if current_version else "nothing is served"
        return PromotionDecision(
            False,
            f"version {new_version} not promoted: it was trained on synthetic prices "
            f"(set promotion.allowSynthetic: true to serve such a model); {kept}",
        )
    figures = f"skill {new_skill:+.4f}"
    if skill_interval is not None and None not in skill_interval:
        figures += f" [95% {skill_interval[0]:+.4f}, {skill_interval[1]:+.4f}]"
    kept = (
        f"version {current_version} stays production" if current_version else "no version is production yet"
    )
    if new_skill < min_skill:
        return PromotionDecision(
            False, f"version {new_version} not promoted: {figures} < gate {min_skill:+.4f}; {kept}"
        )
    compared = f"; {comparison.describe()}" if comparison is not None else ""
    if comparison is not None and comparison.significantly_worse:
        return PromotionDecision(
            False,
            f"version {new_version} not promoted: {figures} >= gate {min_skill:+.4f} but significantly worse "
            f"than production{compared}; {kept}",
        )
    replaced = f" (replaces version {current_version})" if current_version else ""
    label = f" - {NO_EDGE_LABEL}" if no_edge else ""
    return PromotionDecision(
        True, f"version {new_version} promoted: {figures} >= gate {min_skill:+.4f}{replaced}{compared}{label}"
    )
