"""Kopf's own annotations live under kopf.stockops.io, apart from the annotations users set."""

from __future__ import annotations

import kopf
from kopf._cogs.structs.bodies import Body

from stockops.operator.handlers import ANNOTATION_PREFIX, configure_kopf
from stockops.operator.naming import ANNOTATION_RETRAIN
from stockops.operator.settings import OperatorSettings


def _configured() -> kopf.OperatorSettings:
    settings = kopf.OperatorSettings()
    configure_kopf(settings, OperatorSettings())
    return settings


def test_kopf_annotations_have_a_prefix_of_their_own() -> None:
    assert ANNOTATION_PREFIX == "kopf.stockops.io"
    assert not ANNOTATION_RETRAIN.startswith(ANNOTATION_PREFIX + "/")
    storage = _configured().persistence.progress_storage
    assert isinstance(storage, kopf.AnnotationsProgressStorage) and storage.prefix == ANNOTATION_PREFIX


def test_a_retrain_annotation_is_part_of_what_kopf_diffs_and_kopfs_own_are_not() -> None:
    body = Body(
        {
            "apiVersion": "stockops.io/v1alpha1",
            "kind": "ParentModel",
            "metadata": {
                "name": "gspc",
                "annotations": {
                    ANNOTATION_RETRAIN: "2026-12-02T15:00:00Z",
                    f"{ANNOTATION_PREFIX}/last-handled-configuration": "{}",
                },
            },
            "spec": {"ticker": "^GSPC"},
        }
    )
    essence = _configured().persistence.diffbase_storage.build(body=body)
    assert essence["metadata"]["annotations"] == {ANNOTATION_RETRAIN: "2026-12-02T15:00:00Z"}
