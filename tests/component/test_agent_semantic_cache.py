"""The semantic cache on real Qdrant local storage with the real WordLlama embedder (weights from the
wheel, nothing downloaded): paraphrases hit, other questions and other keys never do."""

from __future__ import annotations

from pathlib import Path

import pytest

from stockops.agent.embeddings import CACHE_THRESHOLD, EMBEDDER_ID, WordLlamaEmbedder, cosine
from stockops.agent.semantic_cache import CacheBusy, CacheKey, SemanticCache, _open_local

pytestmark = pytest.mark.component

KEY = CacheKey(ticker="AAPL", model_version="3", data_date="2024-05-31", generator="template")
QUESTION = "Should I worry about volatility this week?"


@pytest.fixture(scope="module")
def embedder() -> WordLlamaEmbedder:
    return WordLlamaEmbedder()


@pytest.fixture
def cache(tmp_path: Path, embedder: WordLlamaEmbedder) -> SemanticCache:
    cache = SemanticCache(embedder, CACHE_THRESHOLD, path=tmp_path / "qdrant")
    cache.store(KEY, QUESTION, {"stance": "NEUTRAL", "summary": "stored report"})
    return cache


def test_the_embedder_loads_from_the_package_without_a_download(
    embedder: WordLlamaEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    vectors = embedder.embed([QUESTION, QUESTION.upper(), "What is the price target?"])
    assert vectors.shape == (3, 256) and embedder.name == EMBEDDER_ID
    assert cosine(vectors[0], vectors[1]) == pytest.approx(1.0, abs=1e-5)  # case does not matter
    assert cosine(vectors[0], vectors[2]) < CACHE_THRESHOLD


def test_the_same_question_reworded_hits(cache: SemanticCache) -> None:
    hit = cache.lookup(KEY, "Should I be worried about volatility this week?")
    assert hit is not None
    assert hit.result == {"stance": "NEUTRAL", "summary": "stored report"}
    assert hit.similarity >= CACHE_THRESHOLD and hit.question == QUESTION


@pytest.mark.parametrize(
    "question",
    [
        "What is the price target for next month?",
        "Should I worry about volatility this year?",
        "Will it go down?",
    ],
)
def test_a_different_question_misses(cache: SemanticCache, question: str) -> None:
    assert cache.lookup(KEY, question) is None


@pytest.mark.parametrize(
    "other",
    [
        CacheKey("AAPL", "4", "2024-05-31", "template"),  # a new model version
        CacheKey("AAPL", "3", "2024-06-03", "template"),  # new data
        CacheKey("AAPL", "3", "2024-05-31", "llm:smollm2"),  # another writer
        CacheKey("MSFT", "3", "2024-05-31", "template"),
    ],
    ids=["new-version", "new-data", "other-writer", "other-ticker"],
)
def test_a_new_version_new_data_or_another_writer_never_hits_an_old_report(
    cache: SemanticCache, other: CacheKey
) -> None:
    assert cache.lookup(other, QUESTION) is None


def test_reports_survive_reopening_and_asking_again_replaces_one(
    cache: SemanticCache, tmp_path: Path, embedder: WordLlamaEmbedder
) -> None:
    cache.store(KEY, QUESTION, {"stance": "NEUTRAL", "summary": "newer report"})
    reopened = SemanticCache(embedder, CACHE_THRESHOLD, path=tmp_path / "qdrant")
    hit = reopened.lookup(KEY, QUESTION)
    assert hit is not None and hit.result["summary"] == "newer report"
    client = _open_local(tmp_path / "qdrant")
    try:
        assert client.count("stockops_analyses").count == 1
    finally:
        client.close()


def test_storage_held_by_another_client_is_busy(
    cache: SemanticCache, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import stockops.agent.semantic_cache as module

    monkeypatch.setattr(module, "BUSY_WAIT_SECONDS", 0.5)
    holder = _open_local(tmp_path / "qdrant")
    try:
        with pytest.raises(CacheBusy, match="held by another process"):
            cache.lookup(KEY, QUESTION)
    finally:
        holder.close()
    assert cache.lookup(KEY, QUESTION) is not None  # released: usable again
