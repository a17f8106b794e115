"""Argo CD health checks (deploy/argocd/<group>/<Kind>/health.lua), run in Lua 5.1 as Argo CD runs them.

The cases come from Argo CD's own test layout (health_test.yaml + testdata/), so the same files work
with Argo CD's harness. The stockops.io testdata are objects our operator wrote during e2e runs
(deploy/argocd/README.md says how they were captured); the precedence tests below start from those
real objects and change one field, so they judge the script against shapes the operator produces.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from stockops.crd.analysis import AnalysisStatus
from stockops.crd.status_blocks import ModelStatus, TickerModelStatus
from stockops.gitops.lua_health import HEALTH_STATUSES, Health, HealthCase, evaluate, load_cases

ARGOCD_DIR = Path(__file__).resolve().parents[2] / "deploy" / "argocd"
OUR_KINDS = ("ParentModel", "TickerModel", "Analysis")
STATUS_MODELS = {"ParentModel": ModelStatus, "TickerModel": TickerModelStatus, "Analysis": AnalysisStatus}


def _kind_dirs() -> list[Path]:
    return sorted(path.parent for path in ARGOCD_DIR.glob("*/*/health.lua"))


def _cases() -> list[HealthCase]:
    return [case for kind_dir in _kind_dirs() for case in load_cases(kind_dir)]


def _script(kind: str) -> str:
    return (ARGOCD_DIR / "stockops.io" / kind / "health.lua").read_text()


def _load(path: Path) -> dict[str, Any]:
    return dict(yaml.safe_load(path.read_text()))


def _testdata(kind: str, name: str) -> dict[str, Any]:
    return _load(ARGOCD_DIR / "stockops.io" / kind / "testdata" / name)


def _condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in obj["status"]["conditions"] if c["type"] == type_)


def _case_id(case: HealthCase) -> str:
    return f"{case.input_path.parent.parent.name}/{case.input_path.name}"


@pytest.mark.parametrize("case", _cases(), ids=_case_id)
def test_health_test_yaml_cases(case: HealthCase) -> None:
    script = (case.input_path.parent.parent / "health.lua").read_text()
    assert evaluate(script, _load(case.input_path)) == case.expected


def test_captured_cases_cover_what_the_e2e_runs_reach() -> None:
    """Suspended and LatestTrainingFailed are not reached by an e2e run; tests below derive them."""
    reached = {
        "ParentModel": {"Healthy", "Progressing", "Degraded"},
        "TickerModel": {"Healthy", "Progressing"},
        "Analysis": {"Healthy", "Progressing", "Degraded"},
    }
    for kind, statuses in reached.items():
        assert {c.expected.status for c in load_cases(ARGOCD_DIR / "stockops.io" / kind)} >= statuses, kind


def test_the_three_scripts_are_one_script() -> None:
    assert _script("ParentModel") == _script("TickerModel") == _script("Analysis")


def test_every_testdata_file_is_a_case_and_every_case_file_exists() -> None:
    for kind_dir in _kind_dirs():
        listed = {case.input_path.resolve() for case in load_cases(kind_dir)}
        present = {path.resolve() for path in (kind_dir / "testdata").glob("*.yaml")}
        assert listed == present, kind_dir


@pytest.mark.parametrize("kind", OUR_KINDS)
def test_testdata_statuses_are_exactly_what_our_status_models_write(kind: str) -> None:
    """No invented shapes: every status parses as the operator's model and serialises back unchanged."""
    for path in sorted((ARGOCD_DIR / "stockops.io" / kind / "testdata").glob("*.yaml")):
        obj = _load(path)
        assert obj["apiVersion"] == "stockops.io/v1alpha1" and obj["kind"] == kind, path
        if "status" in obj:
            model = STATUS_MODELS[kind].model_validate(obj["status"])
            assert model.to_wire() == obj["status"], path


def test_suspend_wins_over_everything() -> None:
    failed = _testdata("ParentModel", "failed-backoff-limit.yaml")
    failed["spec"]["suspend"] = True
    assert evaluate(_script("ParentModel"), failed).status == "Suspended"


def test_latest_training_failed_is_degraded_with_the_conditions_message_even_while_serving() -> None:
    serving = _testdata("TickerModel", "ready.yaml")
    trained = _condition(serving, "Trained")
    trained.update(status="False", reason="LatestTrainingFailed", message="retrain job x failed: NoData")
    assert evaluate(_script("TickerModel"), serving) == Health("Degraded", "retrain job x failed: NoData")


@pytest.mark.parametrize("type_", ["Degraded", "Drifted"])
def test_a_true_degraded_or_drifted_condition_is_degraded(type_: str) -> None:
    ready = _testdata("TickerModel", "ready.yaml")
    condition = {**_condition(ready, "Ready"), "type": type_, "reason": "DataDrift", "message": "drift 0.4"}
    ready["status"]["conditions"].append(condition)
    assert evaluate(_script("TickerModel"), ready) == Health("Degraded", "drift 0.4")
    condition["status"] = "False"
    assert evaluate(_script("TickerModel"), ready).status == "Healthy"


def test_degraded_wins_over_a_generation_the_operator_has_not_seen() -> None:
    failed = _testdata("ParentModel", "failed-backoff-limit.yaml")
    failed["metadata"]["generation"] = failed["status"]["observedGeneration"] + 1
    assert evaluate(_script("ParentModel"), failed).status == "Degraded"


def test_a_ready_model_whose_new_spec_is_not_observed_yet_is_progressing() -> None:
    ready = _testdata("TickerModel", "ready.yaml")
    seen = ready["status"]["observedGeneration"]
    ready["metadata"]["generation"] = seen + 1
    assert evaluate(_script("TickerModel"), ready) == Health(
        "Progressing", f"the operator has not observed generation {seen + 1} yet (status is for {seen})"
    )


BROKEN_SHAPES: list[Any] = [
    {},
    {"status": None},
    {"status": "Ready"},
    {"status": {"conditions": None, "phase": "Ready"}},
    {"status": {"conditions": "nope", "phase": "Failed"}},
    {"status": {"conditions": [None, 3, {}, {"type": None}, {"type": "Ready"}], "phase": "Training"}},
    {"status": {"conditions": [{"type": "Trained", "status": "False"}], "phase": "Ready"}},
    {"metadata": {"generation": "2"}, "status": {"observedGeneration": None, "phase": "Ready"}},
    {"metadata": None, "spec": None, "status": {"phase": "SomethingNew", "observedGeneration": 1}},
    {"spec": {"suspend": "yes"}, "status": {"phase": 7}},
]


@pytest.mark.parametrize("obj", BROKEN_SHAPES)
@pytest.mark.parametrize("kind", OUR_KINDS)
def test_scripts_are_nil_safe_on_any_shape(kind: str, obj: Any) -> None:
    health = evaluate(_script(kind), copy.deepcopy(obj))
    assert health.status in HEALTH_STATUSES and isinstance(health.message, str)


@pytest.mark.parametrize(
    "script",
    [
        'return {status = ("Healthy"):sub(1)}',  # string methods: no string library in Argo CD
        'return {status = string.upper("healthy")}',
        "return {status = math.max(1, 2)}",
        'local f = io.open("/etc/passwd")',
        "goto done",  # Lua 5.2 syntax
    ],
)
def test_the_harness_refuses_what_argo_cds_interpreter_refuses(script: str) -> None:
    with pytest.raises(Exception):  # noqa: B017 - a Lua runtime or syntax error, whichever applies
        evaluate(script, {})


def test_the_harness_allows_what_argo_cd_opens() -> None:
    script = 'local os = require("os"); local t = {}; table.insert(t, "x")\n'
    script += 'return {status = "Healthy", message = tostring(#t) .. tostring(os.time() > 0)}'
    assert evaluate(script, {}) == Health("Healthy", "1true")
