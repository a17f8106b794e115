"""The chart's Grafana dashboards and alert rules query only series the code exports.

Every PromQL expression (dashboard targets, templating queries, alert rules) is tokenized; each metric
name must be a sample name that the operator's registry (`OperatorMetrics`, with `ModelGauges` filled
from a full status) or the predictor's (`stockops.predictor.metrics`) really produces, and each label a
selector matches on must be one of that series' labels or a label the scrape adds. So renaming a
metric, a label or a histogram breaks this test instead of silently emptying a panel or muting an
alert. The chart is rendered with the pinned helm to check the ConfigMap, PrometheusRule and
PodMonitor that ship them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from stockops.crd.ticker_model import TickerModelSpec
from stockops.devcluster import DevClusterError, build_tool
from stockops.operator.builders import Owner, build_inference_service
from stockops.operator.metrics import OperatorMetrics
from stockops.operator.settings import OperatorSettings
from stockops.predictor import metrics as predictor_metrics

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART = REPO_ROOT / "charts" / "stockops"
DASHBOARDS = {path.stem: path for path in sorted((CHART / "dashboards").glob("*.json"))}
ALERTS = CHART / "files" / "alerts.yaml"
ALERT_NAMES = {
    "StockOpsTrainingFailing",
    "StockOpsPredictorErrorRate",
    "StockOpsPredictorNotReady",
    "StockOpsLiveSkillNegative",
    "StockOpsDrift",
    "StockOpsNoForecastServed",
}
# Labels the scrape adds to every series (prometheus-operator's ServiceMonitor/PodMonitor targets).
TARGET_LABELS = {"job", "instance", "namespace", "pod", "container", "service", "endpoint"}
# Grafana's own variables; a dashboard's own ones must be declared in its templating.
GRAFANA_VARIABLES = {"__rate_interval", "__interval", "__range", "__range_s", "__interval_ms"}

# -- a small PromQL tokenizer ----------------------------------------------------------------------

PROMQL_FUNCTIONS = {
    "abs", "absent", "absent_over_time", "avg_over_time", "ceil", "changes", "clamp", "clamp_max",
    "clamp_min", "count_over_time", "day_of_month", "day_of_week", "days_in_month", "delta", "deriv",
    "exp", "floor", "histogram_avg", "histogram_count", "histogram_fraction", "histogram_quantile",
    "histogram_sum", "holt_winters", "hour", "idelta", "increase", "irate", "label_join", "label_replace",
    "last_over_time", "ln", "log10", "log2", "max_over_time", "min_over_time", "minute", "month",
    "predict_linear", "present_over_time", "quantile_over_time", "rate", "resets", "round", "scalar",
    "sgn", "sort", "sort_desc", "sqrt", "stddev_over_time", "stdvar_over_time", "sum_over_time", "time",
    "timestamp", "vector", "year",
}  # fmt: skip
AGGREGATIONS = {
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk",
    "quantile", "limitk", "limit_ratio",
}  # fmt: skip
PROMQL_FUNCTIONS |= AGGREGATIONS
LABEL_LIST_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
KEYWORDS = {"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"}
TOKEN = re.compile(
    r"""(?P<string>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*')
      |(?P<variable>\$\{?\w+\}?)
      |(?P<duration>\d+(?:ms|s|m|h|d|w|y)(?![\w:]))
      |(?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
      |(?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
      |(?P<op>=~|!~|!=|==|>=|<=|[-+*/%^<>=,(){}\[\]:@])
      |(?P<space>\s+)""",
    re.VERBOSE,
)


class PromQLError(ValueError):
    pass


@dataclass
class Selector:
    metric: str
    labels: set[str] = field(default_factory=set)


@dataclass
class Parsed:
    selectors: list[Selector]
    variables: set[str]


def _tokens(expr: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(expr):
        match = TOKEN.match(expr, pos)
        if match is None:
            raise PromQLError(f"cannot tokenize {expr[pos : pos + 20]!r} in {expr!r}")
        pos = match.end()
        if match.lastgroup != "space":
            out.append((match.lastgroup or "", match.group()))
    return out


def parse_promql(expr: str) -> Parsed:
    """The metric selectors (name + matched label names) and `$variables` of one PromQL expression."""
    tokens = _tokens(expr)
    selectors: list[Selector] = []
    variables = {re.sub(r"[${}]", "", text) for kind, text in tokens if kind == "variable"}
    variables |= {v for kind, text in tokens if kind == "string" for v in re.findall(r"\$\{?(\w+)", text)}
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        following = tokens[i + 1][1] if i + 1 < len(tokens) else ""
        if text == "[":  # range or subquery: durations only
            i = next(j for j in range(i, len(tokens)) if tokens[j][1] == "]") + 1
            continue
        if kind == "op" and text == "{":
            raise PromQLError(f"a selector without a metric name in {expr!r}")
        if kind != "ident":
            i += 1
            continue
        if text in LABEL_LIST_KEYWORDS:
            if following == "(":
                i = next(j for j in range(i, len(tokens)) if tokens[j][1] == ")") + 1
            else:
                i += 1
            continue
        if text in KEYWORDS:
            i += 1
            continue
        if following in ("by", "without") and text in AGGREGATIONS:  # sum by (x) (...)
            i += 1
            continue
        if following == "(":
            if text not in PROMQL_FUNCTIONS:
                raise PromQLError(f"unknown PromQL function {text!r} in {expr!r}")
            i += 1
            continue
        selector = Selector(text)
        i += 1
        if following == "{":
            end = next(j for j in range(i, len(tokens)) if tokens[j][1] == "}")
            body = tokens[i + 1 : end]
            selector.labels = {
                t for n, (k, t) in enumerate(body) if k == "ident" and (n == 0 or body[n - 1][1] == ",")
            }
            i = end + 1
        selectors.append(selector)
    return Parsed(selectors, variables)


def test_the_tokenizer_finds_metrics_labels_and_variables() -> None:
    parsed = parse_promql(
        'histogram_quantile(0.95, sum by (le, kind) (rate(x_bucket{outcome="ok", kind=~"$k"}[5m])))'
        " / on (job) group_left (ticker) max without (pod) (y) > bool 0.5 or z offset 1h"
        ' and time() - w{a!="b,c}"} [1h:5m]'
    )
    assert [(s.metric, s.labels) for s in parsed.selectors] == [
        ("x_bucket", {"outcome", "kind"}),
        ("y", set()),
        ("z", set()),
        ("w", {"a"}),
    ]
    assert parsed.variables == {"k"}
    assert [s.metric for s in parse_promql("sum(rate(a_total[$__rate_interval]))").selectors] == ["a_total"]
    with pytest.raises(PromQLError, match="unknown PromQL function 'histogram_quantil'"):
        parse_promql("histogram_quantil(0.5, a)")


# -- what the code exports -------------------------------------------------------------------------


def full_model_status() -> dict[str, Any]:
    """A TickerModel status with every block ModelGauges reads (camelCase, as in the CR)."""
    return {
        "metrics": {"skill": 0.03, "skillLow": -0.01, "skillHigh": 0.07},
        "monitoring": {
            "live": {
                "skill": -0.1,
                "skillLow": -0.2,
                "skillHigh": -0.01,
                "coverage": 0.7,
                "directionalAccuracy": 0.5,
                "verdict": "Degraded",
                "checkedAt": "2026-05-04T10:00:00Z",
            },
            "drift": {"share": 0.5, "verdict": "Drifted", "checkedAt": "2026-05-04T10:00:00Z"},
        },
        "conditions": [{"type": "Drifted", "status": "True"}, {"type": "Degraded", "status": "True"}],
    }


def _samples(registry: Any) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for family in registry.collect():
        for sample in family.samples:
            if not sample.name.endswith("_created"):
                out.setdefault(sample.name, set()).update(sample.labels)
    return out


@pytest.fixture(scope="module")
def operator_series() -> dict[str, set[str]]:
    metrics = OperatorMetrics()
    metrics.models.update("models", "aapl", "AAPL", full_model_status())
    metrics.observe_phase("uid", "TickerModel", "Ready")
    metrics.reconciles.labels("TickerModel", "create").inc()
    metrics.reconcile_errors.labels("TickerModel").inc()
    metrics.failures.labels("TickerModel", "NoData").inc()
    metrics.jobs_created.labels("TickerModel").inc()
    metrics.training_seconds.labels("TickerModel", "succeeded").observe(120)
    return _samples(metrics.registry)


@pytest.fixture(scope="module")
def predictor_series() -> Iterator[dict[str, set[str]]]:
    """The predictor's series on the process-wide registry; the label sets made here are removed after."""
    info = ("stockops-aapl", "3", "AAPL", "false")
    predictor_metrics.MODEL_INFO.labels(*info).set(1)
    predictor_metrics.LAST_FORECAST.labels("AAPL").set(0)
    try:
        from prometheus_client import REGISTRY

        yield {
            name: labels
            for name, labels in _samples(REGISTRY).items()
            if name.startswith("stockops_predictor")
        }
    finally:
        predictor_metrics.MODEL_INFO.remove(*info)
        predictor_metrics.LAST_FORECAST.remove("AAPL")


@pytest.fixture(scope="module")
def exported(
    operator_series: dict[str, set[str]], predictor_series: dict[str, set[str]]
) -> dict[str, set[str]]:
    assert not operator_series.keys() & predictor_series.keys()
    return {**operator_series, **predictor_series}


# -- what the dashboards and rules query -----------------------------------------------------------


def dashboard(name: str) -> dict[str, Any]:
    return json.loads(DASHBOARDS[name].read_text())


def panel_exprs(board: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(panel title, expr) of every target, rows' nested panels included."""
    for panel in board["panels"]:
        for inner in [panel, *panel.get("panels", [])]:
            for target in inner.get("targets", []):
                yield inner["title"], target["expr"]


def template_queries(board: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(variable, selector, label) of every label_values() query variable."""
    for variable in board["templating"]["list"]:
        if variable["type"] != "query":
            continue
        query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
        match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query.strip())
        assert match, f"{variable['name']}: only label_values(selector, label) queries are supported: {query}"
        yield variable["name"], match.group(1), match.group(2)


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


def unknown(selectors: list[Selector], exported: dict[str, set[str]]) -> list[str]:
    problems = []
    for selector in selectors:
        if selector.metric not in exported:
            problems.append(f"{selector.metric} is not exported")
        elif extra := selector.labels - exported[selector.metric] - TARGET_LABELS:
            problems.append(f"{selector.metric} has no label {sorted(extra)}")
    return problems


def test_there_are_the_three_dashboards() -> None:
    assert set(DASHBOARDS) == {"operator", "predictor", "models"}


@pytest.mark.parametrize("name", ["operator", "predictor", "models"])
def test_every_dashboard_query_names_exported_series_and_labels(
    name: str, exported: dict[str, set[str]]
) -> None:
    board = dashboard(name)
    problems = []
    for title, expr in panel_exprs(board):
        parsed = parse_promql(expr)
        if not parsed.selectors:
            problems.append(f"{title}: queries no series: {expr}")
        problems += [f"{title}: {p}" for p in unknown(parsed.selectors, exported)]
    for variable, selector, label in template_queries(board):
        parsed = parse_promql(selector)
        problems += [f"${variable}: {p}" for p in unknown(parsed.selectors, exported)]
        for sel in parsed.selectors:
            if sel.metric in exported and label not in exported[sel.metric] | TARGET_LABELS:
                problems.append(f"${variable}: {sel.metric} has no label {label}")
    assert not problems, "\n".join(problems)


def test_every_alert_rule_names_exported_series_and_labels(exported: dict[str, set[str]]) -> None:
    rules = alert_rules()
    assert {rule["alert"] for rule in rules} == ALERT_NAMES
    problems = []
    for rule in rules:
        parsed = parse_promql(rule["expr"])
        assert parsed.selectors, rule["alert"]
        assert not parsed.variables, f"{rule['alert']}: a Grafana variable in an alert"
        problems += [f"{rule['alert']}: {p}" for p in unknown(parsed.selectors, exported)]
    assert not problems, "\n".join(problems)


def queried(name: str) -> set[str]:
    board = dashboard(name)
    names = {s.metric for _, expr in panel_exprs(board) for s in parse_promql(expr).selectors}
    return names | {s.metric for _, sel, _ in template_queries(board) for s in parse_promql(sel).selectors}


def test_the_dashboards_cover_what_the_issue_asks(exported: dict[str, set[str]]) -> None:
    operator = queried("operator")
    assert {
        "stockops_operator_reconciles_total",
        "stockops_operator_reconcile_errors_total",
        "stockops_operator_training_failures_total",
        "stockops_operator_objects",
        "stockops_operator_training_duration_seconds_bucket",
        "stockops_operator_training_duration_seconds_count",
        "stockops_operator_retrains_total",
        "stockops_operator_monitor_checks_total",
    } <= operator
    predictor = queried("predictor")
    assert {
        "stockops_predictor_request_seconds_count",
        "stockops_predictor_request_seconds_bucket",
        "stockops_predictor_cache_lookups_total",
        "stockops_predictor_cache_local_hits_total",
        "stockops_predictor_errors_total",
        "stockops_predictor_model_info",
        "stockops_predictor_last_forecast_timestamp_seconds",
    } <= predictor
    # every per-model series the operator exports is on the models dashboard
    model_series = {name for name in exported if name.startswith("stockops_model_")}
    assert model_series - {"stockops_model_live_verdict", "stockops_model_drift_verdict"} <= queried("models")
    assert model_series <= queried("models")


def test_latency_panels_use_percentiles_and_the_cache_panel_a_ratio() -> None:
    exprs = list(panel_exprs(dashboard("predictor")))
    latency = " ".join(e for t, e in exprs if t.startswith("Latency"))
    assert sorted(re.findall(r"histogram_quantile\((0\.\d+)", latency)) == ["0.5", "0.95", "0.99"]
    assert "_bucket{" in latency and "rate(" in latency
    (redis, overall) = [e for t, e in exprs if t == "Cache hit ratio"]
    hits, _, lookups = redis.partition(") / sum")
    assert 'cache_lookups_total{namespace=~"$namespace",result="hit"}' in hits
    assert "cache_lookups_total{" in lookups and "result=" not in lookups
    assert "cache_local_hits_total" in overall


@pytest.mark.parametrize("name", ["operator", "predictor", "models"])
def test_dashboards_are_well_formed_for_grafana(name: str) -> None:
    board = dashboard(name)
    assert board["schemaVersion"] >= 39 and board["uid"] == f"stockops-{name}" and board["id"] is None
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert (
        variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    )
    assert "namespace" in variables
    if name != "operator":
        assert "ticker" in variables
    ids, used = set(), set()
    for panel in board["panels"]:
        assert panel["id"] not in ids, f"duplicate panel id {panel['id']}"
        ids.add(panel["id"])
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
            assert panel["targets"] and panel.get("description"), panel["title"]
            assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"]), panel["title"]
    for _, expr in panel_exprs(board):
        used |= parse_promql(expr).variables
    for _, selector, _ in template_queries(board):
        used |= parse_promql(selector).variables
    assert not used - set(variables) - GRAFANA_VARIABLES, f"undeclared variables {used - set(variables)}"


def test_no_two_panels_overlap() -> None:
    for name in DASHBOARDS:
        cells: dict[tuple[int, int], str] = {}
        for panel in dashboard(name)["panels"]:
            g = panel["gridPos"]
            for x in range(g["x"], g["x"] + g["w"]):
                for y in range(g["y"], g["y"] + g["h"]):
                    assert (x, y) not in cells, f"{name}: {panel['title']} overlaps {cells[(x, y)]}"
                    cells[(x, y)] = panel["title"]


# -- the chart ships them --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def helm() -> Path:
    """The pinned helm (scripts/build-testenv.sh helm, or $STOCKOPS_HELM); built on first use, then cached."""
    try:
        return build_tool(REPO_ROOT, "helm")
    except DevClusterError as exc:
        pytest.fail(f"no helm to render the chart with: {exc}")


def helm_template(helm: Path, values: dict[str, Any], tmp: Path) -> subprocess.CompletedProcess[str]:
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    env = {**os.environ, "HELM_CACHE_HOME": str(tmp / "c"), "HELM_CONFIG_HOME": str(tmp / "g")}
    env["HELM_DATA_HOME"] = str(tmp / "d")
    env.pop("KUBECONFIG", None)
    return subprocess.run(
        [str(helm), "template", "stockops", str(CHART), "-n", "stockops-system", "-f", str(path)],
        capture_output=True, text=True, check=False, env=env,
    )  # fmt: skip


def render(helm: Path, values: dict[str, Any], tmp: Path) -> list[dict[str, Any]]:
    done = helm_template(helm, values, tmp)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def dashboard_maps(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in of_kind(objects, "ConfigMap") if o["metadata"]["name"].endswith("-dashboards")]


def test_by_default_no_dashboards_rules_or_pod_monitor(helm: Path, tmp_path: Path) -> None:
    objects = render(helm, {}, tmp_path)
    assert not dashboard_maps(objects)
    assert not of_kind(objects, "PrometheusRule") and not of_kind(objects, "PodMonitor")


def test_dashboards_ship_in_a_configmap_the_grafana_sidecar_picks_up(helm: Path, tmp_path: Path) -> None:
    (configmap,) = dashboard_maps(render(helm, {"monitoring": {"dashboards": {"enabled": True}}}, tmp_path))
    assert configmap["metadata"]["namespace"] == "stockops-system"
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert set(configmap["data"]) == {f"stockops-{name}.json" for name in DASHBOARDS}
    for name, path in DASHBOARDS.items():
        assert json.loads(configmap["data"][f"stockops-{name}.json"]) == json.loads(path.read_text())


def test_the_dashboard_label_namespace_and_annotations_are_configurable(helm: Path, tmp_path: Path) -> None:
    values = {
        "dashboards": {
            "enabled": True,
            "label": "grafana.com/dashboard",
            "labelValue": "stockops",
            "namespace": "monitoring",
            "annotations": {"grafana_folder": "StockOps"},
        }
    }
    (configmap,) = dashboard_maps(render(helm, {"monitoring": values}, tmp_path))
    meta = configmap["metadata"]
    assert meta["labels"]["grafana.com/dashboard"] == "stockops" and "grafana_dashboard" not in meta["labels"]
    assert meta["namespace"] == "monitoring" and meta["annotations"] == {"grafana_folder": "StockOps"}


def test_the_prometheus_rule_carries_exactly_the_tested_rule_file(helm: Path, tmp_path: Path) -> None:
    values = {"monitoring": {"alerts": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}}}}
    (rule,) = of_kind(render(helm, values, tmp_path), "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert rule["spec"]["groups"] == yaml.safe_load(ALERTS.read_text())["groups"]


def test_alerts_can_be_left_out_and_labelled(helm: Path, tmp_path: Path) -> None:
    values = {
        "alerts": {
            "enabled": True,
            "disabled": ["StockOpsNoForecastServed", "StockOpsDrift"],
            "additionalRuleLabels": {"team": "ml", "severity": "page"},
        }
    }
    (rule,) = of_kind(render(helm, {"monitoring": values}, tmp_path), "PrometheusRule")
    rules = {r["alert"]: r for group in rule["spec"]["groups"] for r in group["rules"]}
    assert set(rules) == ALERT_NAMES - {"StockOpsNoForecastServed", "StockOpsDrift"}
    assert all(r["labels"] == {"team": "ml", "severity": "page"} for r in rules.values())
    assert "stockops.models" in {g["name"] for g in rule["spec"]["groups"]}  # LiveSkillNegative is left
    source = {r["alert"]: r for r in alert_rules()}
    assert all(rules[name]["expr"] == source[name]["expr"] for name in rules)


def test_the_schema_knows_every_alert_name_and_refuses_others(helm: Path, tmp_path: Path) -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    alerts = schema["properties"]["monitoring"]["properties"]["alerts"]["properties"]
    assert set(alerts["disabled"]["items"]["enum"]) == ALERT_NAMES
    done = helm_template(
        helm, {"monitoring": {"alerts": {"enabled": True, "disabled": ["StockOpsDirft"]}}}, tmp_path
    )
    assert done.returncode != 0 and "disabled" in done.stderr


def test_the_pod_monitor_selects_the_predictor_pods_the_operator_creates(helm: Path, tmp_path: Path) -> None:
    objects = render(helm, {"monitoring": {"predictorPodMonitor": {"enabled": True}}}, tmp_path)
    (monitor,) = of_kind(objects, "PodMonitor")
    spec = TickerModelSpec.model_validate({"ticker": "AAPL", "parentRef": {"name": "gspc"}})
    owner = Owner("TickerModel", "aapl", "models", "uid-aapl", 1)
    isvc = build_inference_service(
        owner, spec, OperatorSettings(), name="aapl", model_name="stockops-aapl", model_version="1"
    )
    # KServe copies the InferenceService's labels onto its pods (tests/e2e/test_kserve_controller.py)
    assert monitor["spec"]["selector"]["matchLabels"].items() <= isvc["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"any": True}
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    (container,) = isvc["spec"]["predictor"]["containers"]
    assert endpoint["targetPort"] == container["ports"][0]["containerPort"] and endpoint["path"] == "/metrics"
    watched = {
        "operator": {"watchNamespaces": ["models", "research"]},
        **{"monitoring": {"predictorPodMonitor": {"enabled": True}}},
    }
    (monitor,) = of_kind(render(helm, watched, tmp_path / "watched"), "PodMonitor")
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["models", "research"]}


def test_the_operator_service_monitor_keeps_the_models_namespace_label(helm: Path, tmp_path: Path) -> None:
    (monitor,) = of_kind(
        render(helm, {"metrics": {"serviceMonitor": {"enabled": True}}}, tmp_path), "ServiceMonitor"
    )
    assert monitor["spec"]["endpoints"][0]["honorLabels"] is True
