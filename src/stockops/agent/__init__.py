"""The analysis agent: a LangGraph team that writes a checked report on a ticker's forecast.

Facts (`facts`, read by `forecast_source`, `market`, `news`) -> stance and confidence by code
(`stance`) -> prose by a writer (`template_writer`, or an LLM via `llm`) -> the critic's checks
(`critic`, `scoring`) in a bounded revise loop (`nodes`, `graph`) -> a report (`report`). `run` is the
one entry the CLI and the Job (`python -m stockops.agent`) share; `semantic_cache` (Qdrant, questions
embedded by `embeddings`) returns an earlier report on the same question, model version and data date.
Importing this package imports nothing heavy.
"""
