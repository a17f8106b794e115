"""The StockOps Kopf operator: ParentModel / TickerModel -> training Jobs, MLflow versions, KServe.

Layout (I/O only at the edges):
- `builders`  pure: spec -> Job / InferenceService manifests; `naming` deterministic names.
- `observations`, `termination`  pure parsing of what the cluster and the trainer report.
- `status`  pure: (spec, observed Job, progress, result, InferenceService, parent) -> status.
- `reconcile`  one reconcile pass against a `Cluster` port; `cluster` is the Kubernetes adapter.
- `handlers`  thin Kopf glue; `__main__` reads settings once and runs Kopf.

Nothing here imports torch, MLflow or KServe: the operator image stays small and reads MLflow through
its REST API (`mlflow_progress`).
"""
