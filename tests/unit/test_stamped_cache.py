"""A cached answer lives exactly as long as the SQLite file it was derived from is unchanged."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from stockops.registry.local_cache import lookup_key
from stockops.stamped_cache import ANSWER, StampedCache, file_stamp


def answer(value: object) -> Callable[[Path], None]:
    def fill(tmp: Path) -> None:
        (tmp / ANSWER).write_text(json.dumps(value))

    return fill


def test_no_file_means_no_stamp_and_no_cache(tmp_path: Path) -> None:
    assert file_stamp(tmp_path / "missing.db") is None
    cache = StampedCache(tmp_path / "cache", None)
    assert cache.store("k", answer(1)) is None and cache.lookup("k") is None


def test_writing_the_file_changes_the_stamp(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    db.write_bytes(b"one")
    first = file_stamp(db)
    assert file_stamp(db) == first
    db.write_bytes(b"two!")
    assert file_stamp(db) != first
    stamp = file_stamp(db)
    os.utime(db, ns=(1, 1))  # same size, other mtime
    assert file_stamp(db) != stamp


def test_a_wal_write_changes_the_stamp(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    db.write_bytes(b"base")
    before = file_stamp(db)
    (tmp_path / "store.db-wal").write_bytes(b"pending page")
    assert file_stamp(db) != before


def test_an_answer_is_reused_under_its_stamp_only(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    cache = StampedCache(root, "aaaa")
    assert cache.lookup("bundle/m/v1") is None
    entry = cache.store("bundle/m/v1", answer({"version": "1"}))
    assert entry is not None and cache.lookup("bundle/m/v1") == entry
    newer = StampedCache(root, "bbbb")
    assert newer.lookup("bundle/m/v1") is None
    newer.store("bundle/m/v1", answer({"version": "2"}))
    assert not (root / "aaaa").exists()  # older stamps are dropped when a newer one is written


def test_a_failed_fill_leaves_nothing_behind(tmp_path: Path) -> None:
    cache = StampedCache(tmp_path / "cache", "aaaa")

    def crash(tmp: Path) -> None:
        (tmp / "half-written").write_text("x")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        cache.store("k", crash)
    assert cache.lookup("k") is None
    assert list((tmp_path / "cache" / "aaaa").iterdir()) == []


def test_a_fill_that_writes_no_answer_is_refused(tmp_path: Path) -> None:
    cache = StampedCache(tmp_path / "cache", "aaaa")
    with pytest.raises(RuntimeError, match=r"wrote no answer\.json"):
        cache.store("k", lambda tmp: None)
    assert cache.lookup("k") is None


def test_lookup_keys_separate_versions_aliases_and_kinds() -> None:
    keys = {
        lookup_key("bundle", "stockops-aapl", "1", None),
        lookup_key("bundle", "stockops-aapl", None, None),
        lookup_key("bundle", "stockops-aapl", None, "staging"),
        lookup_key("metrics", "stockops-aapl", "1", None),
    }
    assert len(keys) == 4
    assert lookup_key("bundle", "stockops-aapl", None, None) == "bundle/stockops-aapl/alias-production"


def test_fetch_fills_once_then_reuses_the_entry(tmp_path: Path) -> None:
    calls: list[int] = []

    def fill(tmp: Path) -> None:
        calls.append(1)
        (tmp / ANSWER).write_text("1")

    cache = StampedCache(tmp_path / "cache", "aaaa")
    first = cache.fetch("k", fill)
    assert first is not None and cache.fetch("k", fill) == first
    assert calls == [1]
    assert StampedCache(tmp_path / "cache", None).fetch("k", fill) is None and calls == [1]
