"""Analysis reports from the MLflow server over HTTP (no mlflow package: the operator image stays small).

The agent logs its report as the artifact ``analysis/report.md`` of its run. The tracking server serves
artifacts at ``GET /get-artifact?path=<path>&run_uuid=<run id>`` (the route its UI downloads from; with
``--artifacts-destination`` it proxies the artifact store), so the operator needs neither the store's
credentials nor its client. Any HTTP problem yields None: the caller retries on its next pass.
"""

from __future__ import annotations

import logging
from typing import Protocol

import requests

logger = logging.getLogger(__name__)

MAX_BYTES = 1024 * 1024  # a ConfigMap's limit; reports are a few KiB


class ReportSource(Protocol):
    def fetch(self, run_id: str, path: str) -> str | None:
        """The artifact's text, or None when it cannot be read now."""


class MlflowReportReader:
    """Reads run artifacts from an MLflow tracking server's /get-artifact route."""

    def __init__(self, tracking_uri: str, timeout: float = 5.0) -> None:
        self._base = tracking_uri.rstrip("/")
        self._timeout = timeout
        self._session = requests.Session()

    @property
    def enabled(self) -> bool:
        return self._base.startswith(("http://", "https://"))

    def fetch(self, run_id: str, path: str) -> str | None:
        if not self.enabled:
            return None
        try:
            response = self._session.get(
                f"{self._base}/get-artifact",
                params={"path": path, "run_uuid": run_id},
                timeout=self._timeout,
                stream=True,
            )
            with response:
                if response.status_code != 200:
                    logger.info("MLflow artifact %s of run %s: HTTP %s", path, run_id, response.status_code)
                    return None
                body = response.raw.read(MAX_BYTES + 1, decode_content=True)
        except requests.RequestException as exc:
            logger.info("MLflow artifact %s of run %s: %s", path, run_id, exc)
            return None
        if len(body) > MAX_BYTES:
            body = body[:MAX_BYTES]
        return body.decode("utf-8", errors="replace")


class NoReports:
    """A ReportSource that never has a report (no MLflow server the operator can reach)."""

    def fetch(self, run_id: str, path: str) -> str | None:
        return None
