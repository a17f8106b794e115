"""The predictor: one KServe model server per ticker answering dated forecasts (V1 and V2 protocols).

Layers, outermost first: `serve` / `__main__` (process edges) -> `server` (KServe ModelServer) ->
`model` (KServe model: parse and encode) -> `forecaster` (windows, cache, ML core) with the pure
`requests`, `responses`, `risk` and `cache.cache_key` underneath. Importing this package imports
nothing heavy; KServe is imported only by `model` and `server`.
"""
