"""The operator image must stay small: nothing in stockops.operator / stockops.crd pulls the ML stack."""

from __future__ import annotations

import subprocess
import sys


def test_operator_imports_no_torch_kserve_or_mlflow() -> None:
    code = (
        "import sys\n"
        "import stockops.crd.generate, stockops.operator.handlers, stockops.operator.__main__\n"
        "import stockops.operator.rbac, stockops.operator.mlflow_progress\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in {'torch', 'kserve', 'mlflow'}"
        " or m.startswith('stockops.model'))\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "", f"heavy modules imported: {result.stdout.strip()}"
