"""API keys: random and long, only their SHA-256 stored, every entry compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
from pathlib import Path

import pytest

from stockops.gateway import auth
from stockops.gateway.auth import (
    KeyEntry,
    KeyFileError,
    KeyRing,
    add_key,
    digest,
    ensure_first_key,
    generate_key,
    parse_key_file,
    parse_scopes,
    revoke_key,
    verify,
)


def entry(key: str, name: str = "k", scopes: frozenset[str] = frozenset({"read"})) -> KeyEntry:
    return KeyEntry(name, digest(key), scopes)


def test_keys_are_prefixed_random_and_long() -> None:
    keys = {generate_key() for _ in range(50)}
    assert len(keys) == 50
    for key in keys:
        assert key.startswith("sk_")
        assert len(key) >= 45  # sk_ + 43 url-safe characters: 256 random bits


def test_the_digest_is_sha256_hex() -> None:
    assert digest("sk_x") == hashlib.sha256(b"sk_x").hexdigest()


def test_the_right_key_verifies_and_a_wrong_one_does_not() -> None:
    key = generate_key()
    entries = (entry(generate_key(), "other"), entry(key, "mine"))
    found = verify(key, entries)
    assert found is not None and found.name == "mine"
    assert verify(key[:-1] + ("A" if key[-1] != "A" else "B"), entries) is None
    assert verify("", entries) is None
    assert verify("x" * 10_000, entries) is None


def test_every_entry_is_compared_in_constant_time_even_after_a_match(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    key = generate_key()
    entries = (entry(key, "first"), entry(generate_key(), "second"), entry(generate_key(), "third"))
    assert verify(key, entries) is not None
    assert len(calls) == 3  # no early exit: the time does not tell which entry matched
    assert all(b == digest(key) for _, b in calls)


def test_add_key_stores_only_the_digest_owner_readable(tmp_path: Path) -> None:
    path = tmp_path / "gateway" / "keys.json"
    key = add_key(path, "ci", frozenset({"read", "train"}))
    text = path.read_text()
    assert key not in text
    assert digest(key) in text
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    (stored,) = json.loads(text)["keys"]
    assert stored["name"] == "ci" and stored["scopes"] == ["read", "train"]
    with pytest.raises(ValueError, match="already exists"):
        add_key(path, "ci", frozenset({"read"}))


def test_the_first_key_is_created_once_with_every_scope(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    first = ensure_first_key(path)
    assert first is not None
    (only,) = parse_key_file(path.read_text(), "keys.json")
    assert only.scopes == frozenset({"read", "train", "admin"})
    assert verify(first, (only,)) == only
    assert ensure_first_key(path) is None


def test_revoke_removes_the_named_key(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    kept = add_key(path, "kept", frozenset({"read"}))
    gone = add_key(path, "gone", frozenset({"read"}))
    assert revoke_key(path, "gone")
    assert not revoke_key(path, "gone")
    entries = parse_key_file(path.read_text(), "keys.json")
    assert verify(gone, entries) is None
    assert verify(kept, entries) is not None


def test_the_key_ring_rereads_a_changed_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    ring = KeyRing(path)
    assert ring.authenticate("sk_nothing") is None
    key = add_key(path, "late", frozenset({"train"}))
    principal = ring.authenticate(key)
    assert principal is not None
    assert principal.name == "late" and principal.has("train") and not principal.has("read")
    assert principal.key_id == digest(key)[:16]
    revoke_key(path, "late")
    assert ring.authenticate(key) is None


def test_yaml_key_files_are_read_too() -> None:
    sha = digest("sk_y")
    entries = parse_key_file(f"keys:\n  - name: y\n    sha256: {sha}\n    scopes: [read, admin]\n", "k.yaml")
    assert entries[0].scopes == frozenset({"read", "admin"})


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"keys": [{"name": "a", "sha256": "abc", "scopes": ["read"]}]}', "64 hex"),
        ('{"keys": [{"name": "a", "sha256": "' + "0" * 64 + '", "scopes": ["root"]}]}', "root"),
        ('{"keys": [{"name": "a", "sha256": "' + "0" * 64 + '", "scopes": []}]}', "at least one scope"),
        ('{"keys": "nope"}', "must be a list"),
        ('{"keys": ["nope"]}', "entry 1"),
        ("keys: [unclosed", "neither JSON nor YAML"),
    ],
)
def test_malformed_key_files_name_the_problem(text: str, problem: str) -> None:
    with pytest.raises(KeyFileError, match=problem):
        parse_key_file(text, "keys.json")


def test_scopes_parse_from_a_comma_list() -> None:
    assert parse_scopes("read, TRAIN") == frozenset({"read", "train"})
    with pytest.raises(ValueError, match="unknown scope"):
        parse_scopes("read,write")
