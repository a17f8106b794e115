"""Answers derived from a local SQLite file, cached on disk until that file changes.

One-shot commands (`stockops predict`, `stockops evaluate`) used to pay, on every call, for importing
MLflow and Feast, opening their stores and asking the same question again: about 8 s on two cores
before any computing. When the source of truth is a local SQLite file (the embedded MLflow store, the
Feast SQLite online store), its answers can change only when that file is written, and every write
(a registration, an alias move, a materialization) changes its size or modification time. So an answer
is kept under ``<root>/<stamp>/`` where the stamp digests the file's (and its WAL's) size and mtime; a new
stamp is a new directory and older ones are dropped. Servers (a tracking server, Redis) are always asked,
since nothing here could see their changes.

Entries are built in a temporary directory and renamed into place, so a crash never leaves a
half-written entry that a later call would trust.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ANSWER = "answer.json"  # every complete entry has it; written last by the fill function


def file_stamp(path: Path) -> str | None:
    """A digest of a SQLite file's size and mtime (and its WAL's); None when the file does not exist."""
    if not path.is_file():
        return None
    parts = []
    for candidate in (path, path.with_name(path.name + "-wal")):
        try:
            stat = candidate.stat()
        except FileNotFoundError:
            parts.append("-")
            continue
        parts.append(f"{stat.st_mtime_ns}:{stat.st_size}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class StampedCache:
    """Entries under ``root/<stamp>/<key>``; disabled (every lookup misses) when ``stamp`` is None."""

    root: Path
    stamp: str | None

    @property
    def enabled(self) -> bool:
        return self.stamp is not None

    def lookup(self, key: str) -> Path | None:
        """The complete entry for ``key`` under the current stamp, if there is one."""
        if self.stamp is None:
            return None
        entry = self.root / self.stamp / key
        return entry if (entry / ANSWER).is_file() else None

    def fetch(self, key: str, fill: Callable[[Path], None]) -> Path | None:
        """The entry for ``key``, filled now if missing; None only when the cache is disabled."""
        return self.lookup(key) or self.store(key, fill)

    def store(self, key: str, fill: Callable[[Path], None]) -> Path | None:
        """Build an entry with ``fill(tmp_dir)`` (which must write ``answer.json``) and move it in place."""
        if self.stamp is None:
            return None
        entry = self.root / self.stamp / key
        entry.parent.mkdir(parents=True, exist_ok=True)
        self._drop_stale()
        tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=entry.parent))
        try:
            fill(tmp)
            if not (tmp / ANSWER).is_file():
                raise RuntimeError(f"cache fill for {key} wrote no {ANSWER}")
            try:
                os.rename(tmp, entry)
            except OSError:  # another process stored the same answer first: keep theirs
                shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return entry

    def _drop_stale(self) -> None:
        if self.root.is_dir():
            for old in self.root.iterdir():
                if old.name != self.stamp:
                    shutil.rmtree(old, ignore_errors=True)
