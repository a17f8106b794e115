"""The gateway image has no ML stack (the `gateway` extra): building the app and loading its templates
must not import torch, MLflow, Feast, KServe or pandas; and the CLI stays light with the gateway
commands registered (no web stack at `stockops --help`)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = "{'torch', 'mlflow', 'feast', 'kserve', 'pandas', 'evidently', 'langgraph'}"


def imported_after(code: str) -> list[str]:
    probe = (
        "import sys\n"
        f"{code}\n"
        f"heavy = sorted({{m.split('.')[0] for m in sys.modules}} & {HEAVY})\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return [m for m in result.stdout.strip().split(",") if m]


def test_the_app_and_its_templates_need_no_ml_stack() -> None:
    code = (
        "from stockops.gateway import app, server, cluster_backend, local_backend\n"
        "from stockops.gateway.settings import GatewaySettings\n"
        "from stockops.gateway.template import load_template, fill_child\n"
        "fill_child(load_template(None, 'TickerModel'), 'AAPL', '^GSPC')\n"
        "app.make_limiter(GatewaySettings(redis_url='redis://127.0.0.1:1/0'))\n"
    )
    assert imported_after(code) == []


def test_the_cli_registers_the_gateway_without_importing_the_web_stack() -> None:
    code = (
        "from stockops.cli.app import app\n"
        "assert 'gateway' in {c.name for c in app.registered_commands}\n"
        "assert 'fastapi' not in sys.modules and 'uvicorn' not in sys.modules"
    )
    assert imported_after(code) == []
