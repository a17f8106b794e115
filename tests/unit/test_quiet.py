"""Third-party warnings are hidden one by one (category + module + message), never wholesale."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator

import pytest

from stockops.quiet import (
    NOISY_LOGGERS,
    THIRD_PARTY_WARNINGS,
    install_warning_filters,
    module_of,
    quiet_third_party,
)


@pytest.fixture
def clean_warnings() -> Iterator[list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.resetwarnings()
        warnings.simplefilter("always")
        yield caught


def emit(message: str, category: type[Warning], module: str) -> None:
    warnings.warn_explicit(message, category, filename=f"{module}.py", lineno=1, module=module)


def test_each_listed_warning_is_hidden(clean_warnings: list[warnings.WarningMessage]) -> None:
    install_warning_filters()
    emit(
        "The ``noload`` loader strategy is deprecated",
        DeprecationWarning,
        "mlflow.store.tracking.sqlalchemy_store",
    )
    emit(
        "Add type hints to the `predict` method to enable", UserWarning, "mlflow.pyfunc.utils.data_validation"
    )
    emit("An input example was not provided when logging", UserWarning, "mlflow.pyfunc")
    emit("Downcasting object dtype arrays on .fillna", FutureWarning, "dask.dataframe.dask_expr._shuffle")
    emit("numpy.core is deprecated and has been renamed", DeprecationWarning, "evidently.legacy.tests.utils")
    emit("Call to deprecated function 'Dependency'", DeprecationWarning, "litestar.utils.deprecation")
    assert [str(w.message) for w in clean_warnings] == []


@pytest.mark.parametrize(
    ("message", "category", "module"),
    [
        ("something new from mlflow", UserWarning, "mlflow.pyfunc"),  # same module, other message
        ("The ``noload`` loader strategy is deprecated", DeprecationWarning, "stockops.registry"),  # ours
        ("Downcasting object dtype arrays", FutureWarning, "pandas.core.frame"),  # other module
        ("An input example was not provided", RuntimeWarning, "mlflow.pyfunc"),  # other category
    ],
)
def test_anything_not_listed_still_shows(
    clean_warnings: list[warnings.WarningMessage], message: str, category: type[Warning], module: str
) -> None:
    install_warning_filters()
    emit(message, category, module)
    assert [str(w.message) for w in clean_warnings] == [message]


def test_every_rule_says_why_it_exists() -> None:
    assert all(rule.why and rule.module for rule in THIRD_PARTY_WARNINGS)


def test_verbose_hides_nothing(clean_warnings: list[warnings.WarningMessage]) -> None:
    quiet_third_party(verbose=True)
    emit("The ``noload`` loader strategy is deprecated", DeprecationWarning, "mlflow.store.tracking.x")
    assert len(clean_warnings) == 1


def test_quiet_turns_down_only_the_noisy_loggers(clean_warnings: list[warnings.WarningMessage]) -> None:
    saved = {name: logging.getLogger(name).level for name in [*NOISY_LOGGERS, "stockops"]}
    try:
        quiet_third_party()
        assert logging.getLogger("mlflow.utils.environment").level == logging.ERROR
        assert logging.getLogger("stockops").level == saved["stockops"]
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def test_a_broad_filter_inserted_later_does_not_bring_a_listed_warning_back(
    clean_warnings: list[warnings.WarningMessage],
) -> None:
    """Libraries imported after ours insert ``once::DeprecationWarning`` in front of every filter."""
    shown: list[str] = []
    saved = warnings.showwarning
    warnings.showwarning = lambda message, *rest, **kw: shown.append(str(message))  # type: ignore[assignment]
    try:
        install_warning_filters()
        warnings.filterwarnings("once", category=DeprecationWarning)  # what a later import does
        path = "/venv/lib/python3.11/site-packages/mlflow/store/tracking/sqlalchemy_store.py"
        warnings.showwarning("The ``noload`` loader strategy is deprecated", DeprecationWarning, path, 327)
        warnings.showwarning("something else", DeprecationWarning, path, 328)
        assert shown == ["something else"]
    finally:
        warnings.showwarning = saved


@pytest.mark.parametrize(
    ("filename", "module"),
    [
        (
            "/v/lib/python3.11/site-packages/mlflow/pyfunc/utils/data_validation.py",
            "mlflow.pyfunc.utils.data_validation",
        ),
        ("/usr/lib/python3/dist-packages/dask/dataframe/x.py", "dask.dataframe.x"),
        ("project/script.py", "script"),  # outside any installed package: its file name
    ],
)
def test_module_names_come_from_the_installed_path(filename: str, module: str) -> None:
    assert module_of(filename) == module
