"""The container rules the node agent applies (tests/e2e/pod_runtime.py), each one the kubelet's."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest


def test_var_references_expand_defined_names_and_keep_the_rest(pod_runtime: ModuleType) -> None:
    env = {"A": "x", "B": "y"}
    assert pod_runtime.expand_vars("$(A)-$(B)", env) == "x-y"
    assert pod_runtime.expand_vars("$(MISSING)", env) == "$(MISSING)"
    assert pod_runtime.expand_vars("$$(A)", env) == "$(A)"  # $$ escapes


def test_command_replaces_the_entrypoint_and_only_mapped_images_run(pod_runtime: ModuleType) -> None:
    python = "/opt/venv/bin/python"
    trainer = {
        "name": "t",
        "image": "registry.example.com/stockops/trainer:1.0",
        "args": ["--kind", "parent"],
    }
    assert pod_runtime.local_argv(trainer, {}, python) == [
        python,
        "-m",
        "stockops.trainer",
        "--kind",
        "parent",
    ]
    command = {"name": "c", "image": "stockops/trainer:1.0", "command": ["python3", "-c", "$(CODE)"]}
    assert pod_runtime.local_argv(command, {"CODE": "pass"}, python) == [python, "-c", "pass"]
    with pytest.raises(pod_runtime.ContainerError, match="has no local mapping"):
        pod_runtime.local_argv({"name": "x", "image": "busybox:1"}, {}, python)
    assert (
        pod_runtime.image_repository("reg:5000/stockops/predictor:2@sha256:ab")
        == "reg:5000/stockops/predictor"
    )


def test_field_refs_resolve_what_the_node_gave_the_pod(pod_runtime: ModuleType) -> None:
    pod = {
        "metadata": {"name": "p", "namespace": "team", "uid": "u", "labels": {"app": "a"}},
        "spec": {"nodeName": "stockops-cpu"},
        "status": {"podIP": "127.1.0.9", "hostIP": "127.0.0.1"},
    }
    value = pod_runtime.field_ref_value
    assert value(pod, "status.podIP") == "127.1.0.9"
    assert value(pod, "spec.nodeName") == "stockops-cpu"
    assert value(pod, "metadata.labels['app']") == "a"
    assert value(pod, "spec.serviceAccountName") == "default"
    with pytest.raises(pod_runtime.ContainerError, match="not supported"):
        value(pod, "status.phase")


def test_the_termination_message_is_the_file_else_the_log_tail_on_failure(
    pod_runtime: ModuleType, tmp_path: Path
) -> None:
    message, log = tmp_path / "termination-log", tmp_path / "container.log"
    log.write_text("line 1\nBadData: no rows\n")
    read = pod_runtime.read_termination_message
    assert read(message, log, "FallbackToLogsOnError", 2).endswith("BadData: no rows")
    assert read(message, log, "File", 2) == ""
    assert read(message, log, "FallbackToLogsOnError", 0) == ""
    message.write_bytes(b"x" * 10_000)
    assert len(read(message, log, "File", 1)) == pod_runtime.TERMINATION_MESSAGE_LIMIT
