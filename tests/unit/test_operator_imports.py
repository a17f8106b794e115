"""The operator image must stay small: nothing in stockops.operator / stockops.crd pulls the ML stack.

Memory too: the operator's baseline is what it imports (about 75 MB, most of it the kubernetes client
that Kopf imports); mlflow, pandas, numpy or torch would add more than a thousand resources cost.
"""

from __future__ import annotations

import subprocess
import sys


def test_operator_imports_no_ml_or_data_stack() -> None:
    code = (
        "import sys\n"
        "import stockops.crd.generate, stockops.operator.handlers, stockops.operator.__main__\n"
        "import stockops.operator.rbac, stockops.operator.mlflow_progress, stockops.operator.mlflow_reports\n"
        "import stockops.operator.model_metrics, stockops.operator.monitoring\n"
        "stack = {'torch', 'kserve', 'mlflow', 'pandas', 'numpy', 'sklearn', 'pyarrow', 'scipy'}\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in stack"
        " or m.startswith('stockops.model'))\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "", f"heavy modules imported: {result.stdout.strip()}"
