"""Reading training progress out of an MLflow run (REST JSON shape)."""

from __future__ import annotations

from stockops.operator.mlflow_progress import MlflowProgressReader, progress_from_run


def run(**metrics: float) -> dict:
    return {
        "info": {"run_id": "r9"},
        "data": {"metrics": [{"key": k, "value": v, "step": 0, "timestamp": 0} for k, v in metrics.items()]},
    }


def test_progress_from_logged_metrics() -> None:
    progress = progress_from_run(run(epoch=3, epochs=10, progress_percent=30.0, loss=0.1))
    assert progress is not None
    assert (progress.epoch, progress.epochs, progress.percent, progress.run_id) == (3, 10, 30, "r9")


def test_percent_is_derived_and_clamped() -> None:
    assert progress_from_run(run(epoch=1, epochs=4)).percent == 25  # type: ignore[union-attr]
    assert progress_from_run(run(epoch=5, epochs=4, progress_percent=125)).percent == 100  # type: ignore[union-attr]


def test_no_epoch_metrics_means_no_progress() -> None:
    assert progress_from_run(run(loss=0.3)) is None
    assert progress_from_run({}) is None


def test_non_http_tracking_uri_disables_the_reader() -> None:
    reader = MlflowProgressReader("sqlite:///x.db")
    assert not reader.enabled and reader.progress("job") is None


def test_unreachable_server_yields_none() -> None:
    reader = MlflowProgressReader("http://127.0.0.1:9", timeout=0.5)  # discard port: nothing listens
    assert reader.enabled and reader.progress("job") is None
