"""The gateway's permissions in a cluster, least privilege, in one place.

The chart's Role (charts/stockops/templates/gateway.yaml) and the e2e test's gateway user are both
checked against `gateway_rules`, so a verb the gateway needs but lacks fails the tests, and a verb it
does not need cannot creep into the chart unnoticed.

Why each rule exists:
- parentmodels, tickermodels, analyses: create a new ticker's TickerModel (and a parent) and an
  Analysis per question; get/list/watch to answer ``/status``, ``/tickers`` and forecasts; patch for the
  ``stockops.io/retrain`` and ``stockops.io/monitor`` annotations. ``delete`` only where
  ``DELETE /system/reset`` is enabled (it deletes the resources the gateway created, nothing else).
- configmaps get: the Analysis report the operator writes beside the resource (``<name>-report``).

Never the status subresources (the operator owns status), Jobs, pods, Secrets or InferenceServices: the
gateway reaches predictors over HTTP at the URL the TickerModel's status gives.
"""

from __future__ import annotations

from typing import Any

from stockops.crd.base import GROUP

RESOURCE_VERBS = ("create", "get", "list", "watch", "patch")


def gateway_rules(*, reset_enabled: bool = False) -> list[dict[str, Any]]:
    """The Role rules of the gateway's ServiceAccount in the namespace it serves."""
    verbs = [*RESOURCE_VERBS, "delete"] if reset_enabled else list(RESOURCE_VERBS)
    return [
        {"apiGroups": [GROUP], "resources": ["parentmodels", "tickermodels", "analyses"], "verbs": verbs},
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]},
    ]
