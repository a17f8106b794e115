"""Question embeddings for the semantic cache, from a model whose weights ship inside a package.

WordLlama (``wordllama``: the ``l2_supercat`` 256-dimensional token embeddings, average-pooled, about
16 MB in the wheel) embeds a question in well under a millisecond on one core and loads in about a
second, with nothing downloaded: `load` is called with ``disable_download=True`` and ``cache_dir`` set to
the package's own directory, where both the weights (``weights/``) and the tokenizer config
(``tokenizers/``) live (with any other ``cache_dir`` WordLlama looks for the tokenizer in the wrong
folder and would try the network).

`CACHE_THRESHOLD` is the cosine similarity above which two questions count as the same question; it is
tuned for this embedder by ``benchmarks/cache_threshold.py`` (see that script's docstring for the pairs
and the figures) and must be re-tuned whenever `EMBEDDER_ID` changes.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Protocol

import numpy as np

EMBEDDER_ID = "wordllama-l2_supercat-256"
CACHE_THRESHOLD = 0.93  # benchmarks/cache_threshold.py: 0 false hits of 48, recall 64.6 % of 48


class Embedder(Protocol):
    name: str
    dim: int

    def embed(self, texts: list[str]) -> np.ndarray:
        """``(len(texts), dim)`` float32 rows of unit length."""
        ...


class WordLlamaEmbedder:
    name = EMBEDDER_ID
    dim = 256

    def __init__(self) -> None:
        self._model: object | None = None
        self._lock = threading.Lock()

    def _load(self) -> object:
        with self._lock:
            if self._model is None:
                import wordllama

                package_dir = Path(wordllama.__file__).resolve().parent
                self._model = wordllama.WordLlama.load(
                    config="l2_supercat", dim=self.dim, cache_dir=package_dir, disable_download=True
                )
            return self._model

    def embed(self, texts: list[str]) -> np.ndarray:
        model = self._load()
        vectors = np.asarray(model.embed([normalise_question(t) for t in texts], norm=True), dtype=np.float32)  # type: ignore[attr-defined]
        return vectors.reshape(len(texts), self.dim)


def normalise_question(text: str) -> str:
    """Whitespace and case do not make a different question."""
    return " ".join(text.split()).lower()


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    denominator = float(np.linalg.norm(a) * np.linalg.norm(b))
    return 0.0 if denominator == 0.0 else float(np.dot(a, b) / denominator)
