"""The Argo CD side of deploy/argocd/: the generated argocd-cm snippet, the Applications, the ApplicationSet.

Everything a manifest names must exist in this repository: chart and example paths, the ticker files
the ApplicationSet reads, the kinds and groups of ignoreDifferences, and sync waves must put the CRDs
(the operator chart) before any custom resource. The ticker template is rendered with the pinned helm
for every ticker file and must give a TickerModel our CRD model accepts.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from stockops.crd.ticker_model import TickerModelSpec
from stockops.devcluster import DevClusterError, build_tool
from stockops.gitops import argocd_cm

REPO_ROOT = Path(__file__).resolve().parents[2]
ARGOCD_DIR = REPO_ROOT / "deploy" / "argocd"
WAVE = "argocd.argoproj.io/sync-wave"


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _apps() -> dict[str, dict[str, Any]]:
    """Every Application and ApplicationSet under deploy/argocd, by name."""
    found = {}
    for path in [ARGOCD_DIR / "root-app.yaml", *sorted((ARGOCD_DIR / "apps").glob("*.yaml"))]:
        for doc in _docs(path):
            assert doc["apiVersion"] == "argoproj.io/v1alpha1", path
            found[doc["metadata"]["name"]] = doc
    return found


def _crd_kinds() -> dict[str, str]:
    """kind -> group of every CRD in crds/."""
    kinds = {}
    for path in (REPO_ROOT / "crds").glob("*.yaml"):
        for doc in _docs(path):
            kinds[doc["spec"]["names"]["kind"]] = doc["spec"]["group"]
    return kinds


def _wave(doc: dict[str, Any]) -> int:
    return int((doc["metadata"].get("annotations") or {}).get(WAVE, "0"))


def _sources(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = doc["spec"]["template"]["spec"] if doc["kind"] == "ApplicationSet" else doc["spec"]
    return [spec["source"]] if "source" in spec else list(spec["sources"])


def test_committed_argocd_cm_snippet_is_what_the_generator_writes() -> None:
    assert argocd_cm.stale() == [], "run python -m stockops.gitops.argocd_cm"


def test_check_mode_fails_on_a_stale_snippet(tmp_path: Path) -> None:
    for path in ARGOCD_DIR.glob("*/*/health.lua"):
        target = tmp_path / path.relative_to(ARGOCD_DIR)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text())
    assert argocd_cm.main(["--dir", str(tmp_path), "--check"]) == 1
    assert argocd_cm.main(["--dir", str(tmp_path)]) == 0
    assert argocd_cm.main(["--dir", str(tmp_path), "--check"]) == 0


def test_snippet_has_a_health_check_for_every_crd_kind_and_the_application() -> None:
    data = yaml.safe_load((ARGOCD_DIR / argocd_cm.PATCH_FILE).read_text())["data"]
    expected = {f"resource.customizations.health.{g}_{k}" for k, g in _crd_kinds().items()}
    expected.add("resource.customizations.health.argoproj.io_Application")
    assert set(data) == expected
    values = yaml.safe_load((ARGOCD_DIR / argocd_cm.VALUES_FILE).read_text())
    assert values["configs"]["cm"] == data


def test_every_path_an_application_names_exists() -> None:
    for name, doc in _apps().items():
        for source in _sources(doc):
            path = REPO_ROOT / source["path"]
            assert path.is_dir(), (name, source["path"])
            include = (source.get("directory") or {}).get("include")
            if include:
                assert list(path.glob(include)), (name, include)
            if (path / "Chart.yaml").is_file():
                assert "helm" in source, f"{name}: a chart path without helm settings"


def test_the_root_app_syncs_the_apps_folder() -> None:
    (source,) = _sources(_apps()["stockops-root"])
    assert source["path"] == "deploy/argocd/apps"


def test_all_manifests_use_one_repository() -> None:
    urls = {s["repoURL"] for doc in _apps().values() for s in _sources(doc)}
    urls |= {g["git"]["repoURL"] for doc in _apps().values() for g in doc["spec"].get("generators", [])}
    assert len(urls) == 1, urls


def test_waves_put_the_crds_before_every_custom_resource() -> None:
    apps = _apps()
    chart_waves = [
        _wave(doc)
        for doc in apps.values()
        for s in _sources(doc)
        if (REPO_ROOT / s["path"] / "crds").is_dir()
    ]
    assert chart_waves, "no Application installs the chart with the CRDs"
    our_kinds = set(_crd_kinds())
    for name, doc in apps.items():
        for source in _sources(doc):
            path = REPO_ROOT / source["path"]
            include = (source.get("directory") or {}).get("include") or "*.yaml"
            kinds = {d.get("kind") for f in path.glob(include) for d in _docs(f)}
            templates = sorted(path.joinpath("templates").glob("*.yaml"))
            kinds |= {k for f in templates for k in re.findall(r"(?m)^kind: *(\w+)", f.read_text())}
            if kinds & our_kinds:
                assert _wave(doc) > max(chart_waves), f"{name} applies {kinds & our_kinds} before the CRDs"
                assert "SkipDryRunOnMissingResource=true" in _sync_options(doc), name


def _sync_options(doc: dict[str, Any]) -> list[str]:
    spec = doc["spec"]["template"]["spec"] if doc["kind"] == "ApplicationSet" else doc["spec"]
    return list((spec.get("syncPolicy") or {}).get("syncOptions") or [])


def test_ignore_differences_name_only_our_kinds_and_only_what_the_operator_writes() -> None:
    kinds = _crd_kinds()
    allowed_pointers = {
        "/metadata/annotations/kopf.stockops.io~1last-handled-configuration",
        "/metadata/annotations/kopf.stockops.io~1kopf-managed",
    }
    allowed_jq: set[str] = set()  # the operator adds no finalizer
    seen = 0
    for name, doc in _apps().items():
        spec = doc["spec"]["template"]["spec"] if doc["kind"] == "ApplicationSet" else doc["spec"]
        for rule in spec.get("ignoreDifferences") or []:
            seen += 1
            assert kinds.get(rule["kind"]) == rule["group"], (name, rule)
            assert set(rule.get("jsonPointers", [])) <= allowed_pointers, (name, rule)
            assert set(rule.get("jqPathExpressions", [])) <= allowed_jq, (name, rule)
            assert not any("/status" in p for p in rule.get("jsonPointers", [])), "status is never diffed"
            assert "RespectIgnoreDifferences=true" in _sync_options(doc), name
    assert seen >= 2


def test_operator_names_the_annotation_and_finalizer_that_are_ignored(repo_root: Path) -> None:
    handlers = (repo_root / "src" / "stockops" / "operator" / "handlers.py").read_text()
    assert 'FINALIZER = "stockops.io/finalizer"' in handlers
    assert 'ANNOTATION_PREFIX = "kopf.stockops.io"' in handlers
    assert 'key="last-handled-configuration"' in handlers


@pytest.fixture(scope="module")
def helm(repo_root: Path) -> Path:
    try:
        return build_tool(repo_root, "helm")
    except DevClusterError as exc:
        pytest.fail(f"no helm to render the ticker template with: {exc}")


TICKER_FILES = sorted((ARGOCD_DIR / "tickers").glob("*.yaml"))


@pytest.mark.parametrize("ticker_file", TICKER_FILES, ids=lambda p: p.stem)
def test_applicationset_renders_a_valid_tickermodel_for_each_ticker_file(
    ticker_file: Path, helm: Path, tmp_path: Path
) -> None:
    appset = _apps()["stockops-tickers"]
    (generator,) = appset["spec"]["generators"]
    (pattern,) = [f["path"] for f in generator["git"]["files"]]
    assert ticker_file in [p for p in REPO_ROOT.glob(pattern)]
    params = yaml.safe_load(ticker_file.read_text())
    template = yaml.safe_dump(appset["spec"]["template"])
    used = set(re.findall(r"\{\{\s*\.(\w+)\s*\}\}", template))
    assert used <= set(params), f"{ticker_file.name} lacks {used - set(params)}"
    assert params["name"] == ticker_file.stem
    rendered = re.sub(r"\{\{\s*\.(\w+)\s*\}\}", lambda m: str(params[m.group(1)]), template)
    source = yaml.safe_load(rendered)["spec"]["source"]
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump(source["helm"]["valuesObject"]))
    env = {**os.environ, "HELM_CACHE_HOME": str(tmp_path / "c"), "HELM_CONFIG_HOME": str(tmp_path / "f")}
    env.pop("KUBECONFIG", None)
    chart = str(REPO_ROOT / source["path"])
    result = subprocess.run(
        [str(helm), "template", source["helm"]["releaseName"], chart, "-f", str(values)],
        capture_output=True, text=True, check=False, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (tickermodel,) = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert (tickermodel["apiVersion"], tickermodel["kind"]) == ("stockops.io/v1alpha1", "TickerModel")
    assert tickermodel["metadata"]["name"] == params["name"]
    spec = TickerModelSpec.model_validate(tickermodel["spec"])
    assert spec.ticker == params["ticker"] and spec.parent_ref.name == params["parent"]
    assert spec.to_wire() == tickermodel["spec"], "the template writes a field the CRD model does not know"


def test_the_parent_the_tickers_name_is_deployed_by_the_parent_app() -> None:
    (source,) = _sources(_apps()["stockops-parent"])
    parents = {
        d["metadata"]["name"]
        for f in (REPO_ROOT / source["path"]).glob(source["directory"]["include"])
        for d in _docs(f)
        if d["kind"] == "ParentModel"
    }
    for path in TICKER_FILES:
        assert yaml.safe_load(path.read_text())["parent"] in parents, path
