"""Headlines for the market analyst, from a pluggable source; never invented.

``STOCKOPS_NEWS_SOURCE``:

* ``auto`` / ``yfinance`` -- Yahoo Finance's news for the ticker when it is reachable; when it is not,
  no headlines and the reason (``no news: yfinance unreachable (...)``);
* ``file:PATH`` -- a JSON file: a list of ``{"title", "publisher"?, "published"?, "url"?, "tickers"?}``
  (an item with ``tickers`` is kept only for those tickers) or an object ``{"AAPL": [items], ...}``;
* ``http(s)://...`` -- the same JSON from a URL (``{ticker}`` in it is replaced by the ticker);
* ``none`` -- no headlines: "no news source configured".

A source that fails never fails the analysis: news is context, and the report says where it came from or
why there is none.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

from stockops.agent.facts import NewsFacts, NewsItem

log = logging.getLogger(__name__)

MAX_ITEMS = 5
TIMEOUT_SECONDS = 10.0
NO_SOURCE = "no news source configured"


def fetch_news(spec: str, ticker: str, *, timeout: float = TIMEOUT_SECONDS) -> NewsFacts:
    """Headlines for ``ticker`` from the source ``spec`` names (see the module docstring)."""
    text = spec.strip()
    keyword = text.lower()
    if keyword in ("", "none", "off"):
        return NewsFacts(source=NO_SOURCE)
    if keyword in ("auto", "yfinance"):
        return _guarded("yfinance", lambda: _yfinance_items(ticker), timeout)
    if keyword.startswith("file:"):
        path = Path(text[len("file:") :].strip()).expanduser()
        return _guarded(f"file {path.name}", lambda: items_for(json.loads(path.read_text()), ticker), timeout)
    if keyword.startswith(("http://", "https://")):
        url = text.replace("{ticker}", ticker)
        return _guarded(
            f"url {url.split('?')[0]}", lambda: items_for(_get_json(url, timeout), ticker), timeout
        )
    raise ValueError(
        f"unknown news source {spec!r}: expected auto, yfinance, none, file:PATH or an http(s) URL"
    )


def items_for(payload: Any, ticker: str) -> list[NewsItem]:
    """The headlines for ``ticker`` in a file/URL payload (pure)."""
    if isinstance(payload, dict):
        payload = payload.get(ticker) or payload.get(ticker.upper()) or []
    if not isinstance(payload, list):
        raise ValueError("news JSON must be a list of items or an object of ticker -> items")
    items = []
    for raw in payload:
        if not isinstance(raw, dict) or not str(raw.get("title") or "").strip():
            continue
        tickers = raw.get("tickers")
        if tickers and ticker.upper() not in {str(t).upper() for t in tickers}:
            continue
        items.append(
            NewsItem(
                title=" ".join(str(raw["title"]).split())[:400],
                publisher=_opt(raw.get("publisher")),
                published=_opt(raw.get("published")),
                url=_opt(raw.get("url")),
            )
        )
    return items[:MAX_ITEMS]


def yfinance_item(article: dict[str, Any]) -> NewsItem | None:
    """One yfinance news entry (its 2025 ``content`` layout or the older flat one) as a NewsItem."""
    content = article.get("content") if isinstance(article.get("content"), dict) else article
    title = " ".join(str(content.get("title") or "").split())
    if not title:
        return None
    provider = content.get("provider") or {}
    url = (content.get("canonicalUrl") or {}).get("url") or content.get("link")
    return NewsItem(
        title=title[:400],
        publisher=_opt(provider.get("displayName") if isinstance(provider, dict) else None)
        or _opt(content.get("publisher")),
        published=_opt(content.get("pubDate") or content.get("providerPublishTime")),
        url=_opt(url),
    )


def _yfinance_items(ticker: str) -> list[NewsItem]:
    import yfinance

    articles = yfinance.Ticker(ticker).get_news(count=MAX_ITEMS * 2)
    items = [item for item in (yfinance_item(a) for a in articles or []) if item is not None]
    return items[:MAX_ITEMS]


def _get_json(url: str, timeout: float) -> Any:
    import requests

    response = requests.get(url, timeout=timeout)
    response.raise_for_status()
    return response.json()


def _guarded(label: str, fetch: Callable[[], list[NewsItem]], timeout: float) -> NewsFacts:
    """Run ``fetch`` with a deadline; any failure becomes "no news: <label> unreachable (reason)"."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="news")
    try:
        items = pool.submit(fetch).result(timeout=timeout)
    except FutureTimeout:
        return NewsFacts(source=f"no news: {label} did not answer within {timeout:g}s")
    except Exception as exc:
        reason = " ".join(str(exc).split())[:160] or type(exc).__name__
        log.warning("news from %s unavailable: %s", label, reason)
        return NewsFacts(source=f"no news: {label} unreachable ({reason})")
    finally:
        pool.shutdown(wait=False)
    return NewsFacts(source=label, items=tuple(items))


def _opt(value: Any) -> str | None:
    text = " ".join(str(value).split()) if value is not None else ""
    return text[:300] or None
