"""The LangGraph team: forecast analyst and market analyst in parallel, then writer -> critic with a
bounded revise loop back to the writer, then finish (best draft, remaining objections).

::

    START -> forecast_analyst --\\
    START -> market_analyst -----+-> writer -> critic --(objections, rounds left)--> writer
                                                    \\--(approved or out of rounds)--> finish -> END

At most ``1 + max_revisions`` writer rounds; LangGraph's recursion limit (`recursion_limit`) is set just
above the supersteps that takes, so a routing mistake fails loudly instead of looping.
"""

from __future__ import annotations

from typing import Any

from stockops.agent.nodes import (
    AnalysisDeps,
    AnalysisState,
    critic,
    finish,
    forecast_analyst,
    market_analyst,
    route_after_critic,
    writer,
)


def recursion_limit(max_revisions: int) -> int:
    """Supersteps of the longest run: analysts (1), writer + critic per round, finish; plus slack 2."""
    return 1 + 2 * (max_revisions + 1) + 1 + 2


def build_graph(deps: AnalysisDeps) -> Any:
    from langgraph.graph import END, START, StateGraph

    graph = StateGraph(AnalysisState)
    graph.add_node("forecast_analyst", forecast_analyst(deps))
    graph.add_node("market_analyst", market_analyst(deps))
    graph.add_node("writer", writer(deps))
    graph.add_node("critic", critic(deps))
    graph.add_node("finish", finish(deps))
    graph.add_edge(START, "forecast_analyst")
    graph.add_edge(START, "market_analyst")
    graph.add_edge(["forecast_analyst", "market_analyst"], "writer")
    graph.add_edge("writer", "critic")
    graph.add_conditional_edges("critic", route_after_critic(deps), {"writer": "writer", "finish": "finish"})
    graph.add_edge("finish", END)
    return graph.compile()


def run_graph(deps: AnalysisDeps, initial: AnalysisState) -> AnalysisState:
    compiled = build_graph(deps)
    final = compiled.invoke(initial, config={"recursion_limit": recursion_limit(deps.max_revisions)})
    return final  # type: ignore[no-any-return]
