"""A model with no edge says so in every predictor answer (V1 JSON and V2 tensors)."""

from __future__ import annotations

from datetime import date

from stockops.predictor.responses import AnswerContext, build_answer, v2_output_tensors


def _answer(no_edge: bool) -> dict:
    context = AnswerContext(
        "AAPL", "stockops-aapl", "3", synthetic=False, data_source="request", no_edge=no_edge
    )
    return build_answer(
        context,
        as_of=date(2024, 3, 8),
        last_close=100.0,
        dates=[date(2024, 3, 11)],
        closes=[100.0],
        risk=None,
        realized_volatility=None,
    )


def test_no_edge_answers_carry_the_label_and_others_do_not() -> None:
    flat = _answer(True)
    assert flat["no_edge"] is True and flat["note"] == "no edge over the random walk"
    assert flat["forecast"][0]["close"] == flat["naive"][0]["close"]
    edge = _answer(False)
    assert edge["no_edge"] is False and "note" not in edge
    tensors = {t.name: t for t in v2_output_tensors([flat, edge], [False, False])}
    assert tensors["no_edge"].data.tolist() == [True, False]
