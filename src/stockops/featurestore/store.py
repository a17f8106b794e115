"""Opening the feature store: a Feast `FeatureStore` over one directory, applied once.

The configuration is built in code from typed settings (store directory, optional Redis URL) rather
than read from a `feature_store.yaml`, because the trainer and the predictor run from an installed
package where `feature_repo/` does not exist. `feature_repo/feature_store.yaml` describes the same
store for the `feast` CLI; a unit test keeps the two in step.

`feast apply` rewrites the registry and touches online infrastructure, so it runs only when the
definitions (or the online backend) differ from what was last applied in this directory: a fingerprint
of the object specs is kept next to the registry.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from google.protobuf.message import Message

from stockops.config import Settings
from stockops.featurestore.layout import ONLINE_DB_PATH, REGISTRY_PATH, StoreLayout

if TYPE_CHECKING:  # Feast takes seconds to import; only the functions that use it import it
    from feast import FeatureStore

logger = logging.getLogger(__name__)

STORE_SUBDIR = "features"
ENTITY_KEY_SERIALIZATION_VERSION = 3


def feast_redis_connection_string(url: str) -> str:
    """`redis://[user:pass@]host[:port][/db]` -> Feast's `host:port,db=N[,password=..][,ssl=true]`.

    Feast's Redis online store takes its own comma-separated format, while everything else in
    StockOps (the prediction cache, STOCKOPS_REDIS_URL) speaks redis-py URLs; this is the one bridge.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise ValueError(f"redis URL {url!r} must look like redis://host:port/db (or rediss:// for TLS)")
    path = parts.path.strip("/")
    if path and not path.isdigit():
        raise ValueError(f"redis URL {url!r}: the path must be a database number, got {path!r}")
    pieces = [f"{parts.hostname}:{parts.port or 6379}", f"db={int(path) if path else 0}"]
    if parts.username:
        pieces.append(f"username={unquote(parts.username)}")
    if parts.password:
        pieces.append(f"password={unquote(parts.password)}")
    if parts.scheme == "rediss":
        pieces.append("ssl=true")
    return ",".join(pieces)


def redacted_redis_url(url: str) -> str:
    """The URL without credentials, for messages and logs."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port or 6379}{parts.path or '/0'}"


def online_store_config(redis_url: str | None) -> dict[str, object]:
    """SQLite inside the store directory by default; Redis when a URL is configured (a cluster).

    `skip_dedup`: Feast's Redis writer otherwise ignores a row whose event time is not newer than the
    stored one, so re-ingesting a ticker with corrected history ending on an earlier day would leave
    the old window online. Ingestion is the single writer per ticker and the offline window row is
    the truth, so the newest materialization must win, as it does on SQLite.
    """
    if redis_url is None:
        return {"type": "sqlite", "path": ONLINE_DB_PATH}
    return {
        "type": "redis",
        "connection_string": feast_redis_connection_string(redis_url),
        "skip_dedup": True,
    }


def repo_config_values(store_dir: Path, *, redis_url: str | None = None) -> dict[str, object]:
    """The `feature_store.yaml` equivalent for a store directory, as plain values (pure)."""
    from stockops.featurestore.definitions import PROJECT

    return {
        "project": PROJECT,
        "provider": "local",
        "registry": REGISTRY_PATH,
        "offline_store": {"type": "file"},
        "online_store": online_store_config(redis_url),
        "entity_key_serialization_version": ENTITY_KEY_SERIALIZATION_VERSION,
        "repo_path": store_dir,
    }


@dataclass(frozen=True)
class StockFeatureStore:
    """An opened store: the Feast handle, its directory and a label for the online backend."""

    feast: FeatureStore
    layout: StoreLayout
    online: str  # "sqlite" or a redacted redis URL

    @property
    def root(self) -> Path:
        return self.layout.root


def spec_without_meta(message: Message) -> Message:
    """A copy of a Feast spec proto without `meta` blocks (creation times differ on every import)."""
    copy = type(message)()
    copy.CopyFrom(message)
    pending = [copy]
    while pending:
        current = pending.pop()
        for descriptor, value in current.ListFields():
            if descriptor.name == "meta":
                current.ClearField(descriptor.name)
            elif isinstance(value, Message):
                pending.append(value)
            elif descriptor.message_type is not None and not descriptor.message_type.GetOptions().map_entry:
                pending.extend(value)  # a repeated message field
    return copy


def definitions_fingerprint(online: dict[str, object]) -> str:
    """A digest of every Feast object spec plus the online backend: equal digests -> nothing to apply."""
    from stockops.featurestore.definitions import FEAST_OBJECTS

    digest = hashlib.sha256()
    for obj in FEAST_OBJECTS:
        digest.update(type(obj).__name__.encode())
        digest.update(spec_without_meta(obj.to_proto().spec).SerializeToString(deterministic=True))
    digest.update(repr(sorted(online.items())).encode())
    return digest.hexdigest()


def open_store(store_dir: Path, *, redis_url: str | None = None) -> StockFeatureStore:
    """Open (creating if needed) the store in `store_dir`, applying the definitions if they changed."""
    from stockops.featurestore.feast_import import import_feast

    import_feast()
    from feast import FeatureStore
    from feast.repo_config import RepoConfig

    from stockops.featurestore.definitions import FEAST_OBJECTS

    layout = StoreLayout(Path(store_dir).expanduser().resolve())
    layout.make_dirs()
    values = repo_config_values(layout.root, redis_url=redis_url)
    # repo_path is passed too: Feast resolves the registry path against it, not against the config.
    feast_store = FeatureStore(repo_path=str(layout.root), config=RepoConfig(**values))
    online = values["online_store"]
    assert isinstance(online, dict)
    fingerprint = definitions_fingerprint(online)
    marker = layout.applied_marker
    applied = marker.read_text().strip() if marker.is_file() else ""
    if applied != fingerprint or not layout.registry.is_file():
        logger.info("applying feature definitions to %s (online: %s)", layout.root, online["type"])
        # Feast's apply fills in derived fields (entity columns) on the objects it is given; applying
        # copies keeps the module's definitions, and so the fingerprint, identical in every process.
        feast_store.apply([copy.deepcopy(obj) for obj in FEAST_OBJECTS])
        tmp = marker.with_name(f".{marker.name}.{os.getpid()}.tmp")
        tmp.write_text(fingerprint + "\n")
        os.replace(tmp, marker)
    label = "sqlite" if redis_url is None else redacted_redis_url(redis_url)
    return StockFeatureStore(feast=feast_store, layout=layout, online=label)


def store_dir_from_settings(settings: Settings) -> Path:
    """`STOCKOPS_HOME/features`: the store every local command and the demo share."""
    return settings.home_dir / STORE_SUBDIR


def store_from_settings(settings: Settings) -> StockFeatureStore:
    """The configured store: under the data directory, online in Redis when STOCKOPS_REDIS_URL is set."""
    return open_store(store_dir_from_settings(settings), redis_url=settings.redis_url)
