"""Third-party chatter a StockOps user cannot act on, filtered by category, module and message.

Each rule names one known warning and why it is safe to hide; anything not listed still shows, so a
new warning (ours or a library's) is never swallowed by a blanket ``ignore``. ``--verbose`` (or
``STOCKOPS_VERBOSE=1``) installs none of them and turns logging up instead.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePath
from typing import TextIO


@dataclass(frozen=True)
class WarningRule:
    category: type[Warning]
    module: str  # regex on the module the warning is attributed to
    message: str  # regex on the start of the message
    why: str


THIRD_PARTY_WARNINGS: tuple[WarningRule, ...] = (
    WarningRule(
        DeprecationWarning,  # SQLAlchemy's SADeprecationWarning subclasses it
        r"mlflow\.store\.",
        r".*noload",
        "MLflow's own SQLAlchemy tracking store uses `noload`; fixed upstream, nothing for us to change",
    ),
    WarningRule(
        UserWarning,
        r"mlflow\.pyfunc",
        r".*Add type hints to the `predict` method",
        "our pyfunc's contract is the tensor signature logged with it (see stockops.registry.pyfunc)",
    ),
    WarningRule(
        UserWarning,
        r"mlflow\.(pyfunc|models)",
        r".*An input example was not provided",
        "the signature is logged explicitly; an input example would make MLflow run the model again",
    ),
    WarningRule(
        FutureWarning,
        r"dask\.",
        r"Downcasting object dtype arrays",
        "raised inside dask while Feast's file offline store reads parquet",
    ),
    WarningRule(
        DeprecationWarning,
        r"(feast|dask|pyarrow|google\.protobuf|pkg_resources)(\.|$)",
        r"",
        "import-time deprecations inside the feature store's dependencies",
    ),
    WarningRule(
        DeprecationWarning,  # LitestarDeprecationWarning subclasses it
        r"(evidently|litestar)(\.|$)",
        r"",
        "import-time deprecations inside Evidently (numpy.core) and its UI's web framework (litestar)",
    ),
)

# Loggers whose records say nothing actionable at their default level on a user's console.
NOISY_LOGGERS: dict[str, int] = {
    "mlflow.utils.environment": logging.ERROR,  # "Failed to resolve installed pip version" (uv venvs)
    "mlflow.store.db.utils": logging.WARNING,  # "Creating initial MLflow database tables..."
    "mlflow.tracking.fluent": logging.WARNING,
    "alembic": logging.WARNING,
    "feast": logging.WARNING,
}


def module_of(filename: str) -> str:
    """``.../site-packages/mlflow/store/x.py`` -> ``mlflow.store.x`` (the module a warning points at)."""
    parts = PurePath(filename).with_suffix("").parts
    for anchor in ("site-packages", "dist-packages"):
        if anchor in parts:
            return ".".join(parts[parts.index(anchor) + 1 :])
    return PurePath(filename).stem


def matches(rule: WarningRule, message: str, category: type[Warning], module: str) -> bool:
    return (
        issubclass(category, rule.category)
        and re.match(rule.module, module) is not None
        and re.match(rule.message, message, re.IGNORECASE) is not None
    )


class RuleFilteredShow:
    """`warnings.showwarning` that drops warnings matching a rule, then shows the rest as before.

    The filter list alone is not enough: libraries imported later insert broad filters ahead of ours
    (something under MLflow adds ``once::DeprecationWarning`` at import), which would show the warnings
    again; the display hook sees every warning that survives the filters, whatever their order.
    """

    def __init__(self, rules: tuple[WarningRule, ...], inner: Callable[..., None]) -> None:
        self.rules = rules
        self.inner = inner

    def __call__(
        self,
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        module = module_of(filename)
        if any(matches(rule, str(message), category, module) for rule in self.rules):
            return
        self.inner(message, category, filename, lineno, file, line)


def install_warning_filters(rules: tuple[WarningRule, ...] = THIRD_PARTY_WARNINGS) -> None:
    """Hide exactly the listed warnings: as filters, and in the display hook (see `RuleFilteredShow`)."""
    for rule in rules:
        warnings.filterwarnings("ignore", message=rule.message, category=rule.category, module=rule.module)
    if not isinstance(warnings.showwarning, RuleFilteredShow):
        warnings.showwarning = RuleFilteredShow(rules, warnings.showwarning)


def quiet_third_party(*, verbose: bool = False) -> None:
    """The console policy of every StockOps process: quiet third parties unless asked to be verbose."""
    if verbose:
        if isinstance(warnings.showwarning, RuleFilteredShow):
            warnings.showwarning = warnings.showwarning.inner
        warnings.simplefilter("default")
        logging.getLogger("stockops").setLevel(logging.INFO)
        return
    install_warning_filters()
    for name, level in NOISY_LOGGERS.items():
        logging.getLogger(name).setLevel(level)
