"""The store configuration built in code, and the `feature_repo/` files that mirror it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

from stockops.featurestore import definitions
from stockops.featurestore.store import (
    definitions_fingerprint,
    feast_redis_connection_string,
    online_store_config,
    redacted_redis_url,
    repo_config_values,
    spec_without_meta,
)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://localhost:6379/0", "localhost:6379,db=0"),
        ("redis://cache", "cache:6379,db=0"),
        ("redis://:s3cret@redis.stockops.svc:6380/2", "redis.stockops.svc:6380,db=2,password=s3cret"),
        ("rediss://user:p%40ss@host:6379/1", "host:6379,db=1,username=user,password=p@ss,ssl=true"),
    ],
)
def test_redis_urls_become_feast_connection_strings(url: str, expected: str) -> None:
    assert feast_redis_connection_string(url) == expected


@pytest.mark.parametrize("url", ["http://localhost:6379", "localhost:6379", "redis://host/cache"])
def test_bad_redis_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="redis URL"):
        feast_redis_connection_string(url)


def test_redacted_url_drops_credentials() -> None:
    assert redacted_redis_url("redis://:s3cret@host:6380/2") == "redis://host:6380/2"


def test_online_store_is_sqlite_unless_redis_is_configured() -> None:
    assert online_store_config(None)["type"] == "sqlite"
    redis = online_store_config("redis://host:6379/0")
    assert redis == {"type": "redis", "connection_string": "host:6379,db=0", "skip_dedup": True}


def test_feature_repo_yaml_describes_the_store_the_code_opens(repo_root: Path) -> None:
    from_yaml = yaml.safe_load((repo_root / "feature_repo" / "feature_store.yaml").read_text())
    from_code = repo_config_values(Path("unused"))
    from_code.pop("repo_path")
    assert from_yaml == from_code


def test_feature_repo_registers_exactly_the_package_definitions(repo_root: Path) -> None:
    spec = importlib.util.spec_from_file_location(
        "feature_repo_features", repo_root / "feature_repo" / "features.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    exported = {name: getattr(module, name) for name in module.__all__}
    assert set(exported.values()) == set(definitions.FEAST_OBJECTS)


def test_daily_view_serves_close_and_the_model_features_in_order() -> None:
    from stockops.data.features import MODEL_FEATURES

    names = [f.name for f in definitions.daily_features.features]
    assert names[: 1 + len(MODEL_FEATURES)] == ["close", *MODEL_FEATURES]
    assert definitions.daily_features.online is False
    assert definitions.feature_windows.online is True


def test_fingerprint_ignores_creation_times_that_change_on_every_import() -> None:
    spec = definitions.daily_features.to_proto().spec
    later = type(spec)()
    later.CopyFrom(spec)
    later.batch_source.meta.created_timestamp.seconds += 3600
    assert spec.SerializeToString() != later.SerializeToString()
    assert spec_without_meta(spec) == spec_without_meta(later)
    assert spec_without_meta(spec).batch_source.file_options.uri == "data/offline/daily"


def test_fingerprint_is_stable_and_tracks_the_online_backend() -> None:
    sqlite = definitions_fingerprint(online_store_config(None))
    assert sqlite == definitions_fingerprint(online_store_config(None))
    assert sqlite != definitions_fingerprint(online_store_config("redis://host:6379/0"))
