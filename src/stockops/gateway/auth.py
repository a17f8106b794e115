"""API keys: random, long, stored only as SHA-256 digests, compared in constant time.

A key is ``sk_`` + ``secrets.token_urlsafe(32)`` (256 random bits). With that much entropy a fast hash
is enough: nobody can guess a preimage, and a slow password hash (bcrypt, argon2) would add tens of
milliseconds to every request, far over the gateway's latency budget. The keys file (JSON or YAML, a
mounted Secret in a cluster) holds, per key, a name, its digest and its scopes::

    {"keys": [{"name": "ci", "sha256": "<64 hex>", "scopes": ["read", "train"], "created": "..."}]}

`KeyRing.authenticate` hashes the presented key once and compares the digest with *every* entry using
`hmac.compare_digest`, never stopping early, so the time taken says nothing about which entry (if
any) is close. The file is re-read when it changes, so a key added with ``stockops gateway-key create``
(or a rotated Secret) counts without a restart.

Scopes: ``read`` (forecasts of trained models, status, tickers, history, drift results, metrics),
``train`` (trainings, forecasts that start one, analyses, monitoring checks), ``admin`` (reset). They do
not imply one another; the first key a local gateway creates has all three.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import yaml

Scope = Literal["read", "train", "admin"]
SCOPES: tuple[str, ...] = get_args(Scope)
KEY_PREFIX = "sk_"
MAX_KEY_CHARS = 256
_HEX = frozenset("0123456789abcdef")


class KeyFileError(ValueError):
    """The keys file is unreadable or malformed; the message names the file and the entry."""


@dataclass(frozen=True)
class KeyEntry:
    name: str
    sha256: str
    scopes: frozenset[str]
    created: str | None = None

    @property
    def key_id(self) -> str:
        """A stable, non-secret id (digest prefix) for rate limits and logs."""
        return self.sha256[:16]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "sha256": self.sha256,
            "scopes": sorted(self.scopes, key=SCOPES.index),
            "created": self.created,
        }


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's name, id and scopes."""

    name: str
    key_id: str
    scopes: frozenset[str]

    def has(self, scope: Scope) -> bool:
        return scope in self.scopes


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def parse_scopes(text: str | list[str]) -> frozenset[str]:
    """``"read,train"`` -> {"read", "train"}; ValueError naming an unknown scope."""
    items = text.split(",") if isinstance(text, str) else list(text)
    scopes = frozenset(s.strip().lower() for s in items if s.strip())
    unknown = sorted(scopes - set(SCOPES))
    if unknown:
        raise ValueError(f"unknown scope(s) {', '.join(unknown)}: choose from {', '.join(SCOPES)}")
    if not scopes:
        raise ValueError(f"at least one scope is needed: {', '.join(SCOPES)}")
    return scopes


def verify(presented: str, entries: tuple[KeyEntry, ...]) -> KeyEntry | None:
    """The entry whose digest matches ``presented``; every entry is compared, in constant time each."""
    if not presented or len(presented) > MAX_KEY_CHARS:
        return None
    wanted = digest(presented)
    found: KeyEntry | None = None
    for entry in entries:
        if hmac.compare_digest(entry.sha256, wanted) and found is None:
            found = entry
    return found


def parse_key_file(text: str, source: str) -> tuple[KeyEntry, ...]:
    """Entries of a keys file's text (JSON or YAML); KeyFileError names what is wrong."""
    try:
        data = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        raise KeyFileError(f"keys file {source} is neither JSON nor YAML: {exc}") from exc
    raw = data.get("keys") if isinstance(data, dict) else data
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise KeyFileError(f"keys file {source}: 'keys' must be a list of entries")
    entries = []
    for i, item in enumerate(raw):
        where = f"keys file {source}, entry {i + 1}"
        if not isinstance(item, dict):
            raise KeyFileError(f"{where}: must be a mapping with name, sha256 and scopes")
        sha = str(item.get("sha256", "")).lower()
        if len(sha) != 64 or not set(sha) <= _HEX:
            raise KeyFileError(f"{where}: sha256 must be 64 hex characters (the digest, never the key)")
        try:
            scopes = parse_scopes(item.get("scopes") or [])
        except ValueError as exc:
            raise KeyFileError(f"{where}: {exc}") from exc
        entries.append(KeyEntry(str(item.get("name") or f"key-{i + 1}"), sha, scopes, item.get("created")))
    return tuple(entries)


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class KeyRing:
    """The keys of one file, re-read when the file changes (inode, size or mtime)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._entries: tuple[KeyEntry, ...] = ()
        self.entries()  # a malformed file fails at start, not at the first request

    def entries(self) -> tuple[KeyEntry, ...]:
        stamp = _stamp(self.path)
        if stamp != self._stamp:
            with self._lock:
                if stamp is None:
                    self._entries = ()
                else:
                    self._entries = parse_key_file(self.path.read_text(), str(self.path))
                self._stamp = stamp
        return self._entries

    def authenticate(self, presented: str | None) -> Principal | None:
        entry = verify(presented or "", self.entries())
        return None if entry is None else Principal(entry.name, entry.key_id, entry.scopes)


def add_key(path: Path, name: str, scopes: frozenset[str], *, now: dt.datetime | None = None) -> str:
    """Create a key, append its digest to ``path`` (created 0600 if missing) and return the key: the
    only time it exists in clear."""
    if not name or len(name) > 64:
        raise ValueError("a key name must have 1 to 64 characters")
    entries = list(parse_key_file(path.read_text(), str(path))) if path.exists() else []
    if any(e.name == name for e in entries):
        raise ValueError(f"a key named {name!r} already exists in {path}; choose another name or revoke it")
    key = generate_key()
    created = (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
    entries.append(KeyEntry(name, digest(key), scopes, created))
    write_key_file(path, entries)
    return key


def revoke_key(path: Path, name: str) -> bool:
    """Remove the key named ``name``; False when there is none."""
    if not path.exists():
        return False
    entries = list(parse_key_file(path.read_text(), str(path)))
    kept = [e for e in entries if e.name != name]
    if len(kept) == len(entries):
        return False
    write_key_file(path, kept)
    return True


def write_key_file(path: Path, entries: list[KeyEntry]) -> None:
    """Atomic replace (write, fsync, rename), readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"keys": [e.to_dict() for e in entries]}, out, indent=2)
        out.write("\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


FIRST_KEY_NAME = "first-admin"


def ensure_first_key(path: Path) -> str | None:
    """A new key with every scope when ``path`` holds no key yet (local start); None when keys exist."""
    if path.exists() and parse_key_file(path.read_text(), str(path)):
        return None
    return add_key(path, FIRST_KEY_NAME, frozenset(SCOPES))
