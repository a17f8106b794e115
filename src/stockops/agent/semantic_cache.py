"""The semantic cache: an earlier report on the same question, same ticker, same model version and same
data date is returned at once (marked cached) instead of running the graph again.

Stored in Qdrant, one point per report: the question's embedding (`embeddings`, cosine) and a payload
with the key (ticker, model version, data date, generator, embedder) and the whole result. A lookup
filters on the key *exactly* and then asks for the nearest question above `CACHE_THRESHOLD`, so a new
model version or a new data date never meets an old report, and neither does a template report a
request for an LLM's (nor one embedded by another model).

Where: a Qdrant server when ``STOCKOPS_QDRANT_URL`` is set; otherwise Qdrant's embedded local mode under
``$STOCKOPS_HOME/qdrant``. Local storage belongs to one process at a time (Qdrant locks the folder), so
it is opened for the lookup and again for the store, never across the graph run; a folder still busy
after a few seconds turns the cache off for that call, and the result says so. In a cluster
(``KUBERNETES_SERVICE_HOST`` set) with no Qdrant URL the cache is off: a pod's local storage would die
with it.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from stockops.agent.embeddings import Embedder, normalise_question

log = logging.getLogger(__name__)

COLLECTION = "stockops_analyses"
BUSY_WAIT_SECONDS = 5.0
KEY_FIELDS = ("ticker", "model_version", "data_date", "generator", "embedder")


@dataclass(frozen=True)
class CacheKey:
    ticker: str
    model_version: str
    data_date: str
    generator: str

    def payload(self, embedder: str) -> dict[str, str]:
        return {
            "ticker": self.ticker.upper(),
            "model_version": self.model_version,
            "data_date": self.data_date,
            "generator": self.generator,
            "embedder": embedder,
        }


class CacheStatus(BaseModel):
    """What the result says about the cache."""

    enabled: bool
    backend: str | None = None  # "local" | "server" | None
    hit: bool = False
    similarity: float | None = None
    threshold: float | None = None
    note: str | None = None


@dataclass(frozen=True)
class CacheHit:
    result: dict[str, Any]
    similarity: float
    question: str


class SemanticCache:
    def __init__(
        self,
        embedder: Embedder,
        threshold: float,
        *,
        path: Path | None = None,
        url: str | None = None,
        api_key: str | None = None,
    ) -> None:
        if (path is None) == (url is None):
            raise ValueError("give a local path or a server URL")
        self.embedder = embedder
        self.threshold = threshold
        self.path = path
        self.url = url
        self.api_key = api_key

    @property
    def backend(self) -> str:
        return "server" if self.url else "local"

    def status(self, **changes: Any) -> CacheStatus:
        return CacheStatus(enabled=True, backend=self.backend, threshold=self.threshold, **changes)

    def lookup(self, key: CacheKey, question: str) -> CacheHit | None:
        from qdrant_client import models

        vector = self.embedder.embed([question])[0]
        conditions = [
            models.FieldCondition(key=k, match=models.MatchValue(value=v))
            for k, v in key.payload(self.embedder.name).items()
        ]
        with self._client() as client:
            if not client.collection_exists(COLLECTION):
                return None
            found = client.query_points(
                COLLECTION,
                query=vector.tolist(),
                query_filter=models.Filter(must=conditions),
                limit=1,
                score_threshold=self.threshold,
                with_payload=True,
            ).points
        if not found:
            return None
        payload = found[0].payload or {}
        return CacheHit(
            result=dict(payload["result"]), similarity=float(found[0].score), question=payload["question"]
        )

    def store(self, key: CacheKey, question: str, result: dict[str, Any]) -> None:
        from qdrant_client import models

        vector = self.embedder.embed([question])[0]
        fields = key.payload(self.embedder.name)
        point_id = str(
            uuid.uuid5(uuid.NAMESPACE_URL, "|".join([*fields.values(), normalise_question(question)]))
        )
        with self._client() as client:
            if not client.collection_exists(COLLECTION):
                client.create_collection(
                    COLLECTION,
                    vectors_config=models.VectorParams(
                        size=self.embedder.dim, distance=models.Distance.COSINE
                    ),
                )
                if self.url:  # payload indexes make the exact-key filter cheap; local mode has none
                    for name in KEY_FIELDS:
                        client.create_payload_index(COLLECTION, name, models.PayloadSchemaType.KEYWORD)
            client.upsert(
                COLLECTION,
                points=[
                    models.PointStruct(
                        id=point_id,
                        vector=vector.tolist(),
                        payload={
                            **fields,
                            "question": question,
                            "stored_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                            "result": result,
                        },
                    )
                ],
            )

    @contextmanager
    def _client(self) -> Iterator[Any]:
        from qdrant_client import QdrantClient

        if self.url:
            client = QdrantClient(url=self.url, api_key=self.api_key, timeout=10)
        else:
            client = _open_local(self.path)  # type: ignore[arg-type]
        try:
            yield client
        finally:
            client.close()


class CacheBusy(RuntimeError):  # noqa: N818
    """Another process holds the local storage folder."""


def _open_local(path: Path) -> Any:
    from qdrant_client import QdrantClient

    path.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + BUSY_WAIT_SECONDS
    while True:
        try:
            return QdrantClient(path=str(path))
        except RuntimeError as exc:
            if "already accessed" not in str(exc):
                raise
            if time.monotonic() > deadline:
                raise CacheBusy(f"local Qdrant storage {path} is held by another process") from exc
            time.sleep(0.2)


def in_cluster(env: dict[str, str]) -> bool:
    return bool(env.get("KUBERNETES_SERVICE_HOST"))


def cache_plan(
    *, mode: str, qdrant_url: str | None, home: Path, env: dict[str, str]
) -> tuple[str | None, Path | None, str | None]:
    """(server URL, local path, why off) from the settings (pure): exactly one of the three is set."""
    if mode == "off":
        return None, None, "semantic cache off (STOCKOPS_SEMANTIC_CACHE=off)"
    if qdrant_url:
        return qdrant_url, None, None
    if in_cluster(env):
        return (
            None,
            None,
            "semantic cache off: no STOCKOPS_QDRANT_URL in a cluster (pod storage would not last)",
        )
    return None, home / "qdrant", None
