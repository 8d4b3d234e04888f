"""Domain errors share one root with a stable code, and keep the builtin their callers catch."""

from __future__ import annotations

import importlib
import re

import pytest

from aispend.core.errors import AispendError, new_error_id

MODULES = (
    "aispend.bot.alerts",
    "aispend.connectors.base",
    "aispend.connectors.expenses.directory",
    "aispend.connectors.expenses.parse",
    "aispend.connectors.files.call_schema",
    "aispend.connectors.files.focus",
    "aispend.connectors.files.readers",
    "aispend.connectors.registry",
    "aispend.core.governance.store",
    "aispend.core.money",
    "aispend.core.pricing",
    "aispend.core.rates",
    "aispend.core.rules.attribution",
    "aispend.core.rules.findings",
    "aispend.core.shadow.catalog",
    "aispend.jobs.sync_job",
)


def _all_subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _all_subclasses(sub)
    return found


def test_every_domain_error_has_its_own_snake_case_code() -> None:
    for name in MODULES:
        importlib.import_module(name)
    errors = _all_subclasses(AispendError)
    assert len(errors) >= len(MODULES)
    for error in errors:
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", error.code), error
        assert error.code != AispendError.code, f"{error.__qualname__} has no code of its own"


@pytest.mark.parametrize(
    ("module", "name", "builtin"),
    [
        ("aispend.core.money", "MoneyError", ValueError),
        ("aispend.core.pricing", "PriceError", ValueError),
        ("aispend.core.pricing", "UnknownModelError", LookupError),
        ("aispend.core.governance.store", "NotFoundError", LookupError),
        ("aispend.connectors.expenses.parse", "ExportError", ValueError),
        ("aispend.bot.alerts", "UnknownAlert", LookupError),
    ],
)
def test_domain_errors_keep_the_builtin_their_callers_catch(module: str, name: str, builtin: type) -> None:
    error = getattr(importlib.import_module(module), name)
    assert issubclass(error, AispendError) and issubclass(error, builtin)


def test_the_message_is_the_text_and_an_empty_one_falls_back_to_the_code() -> None:
    from aispend.core.money import MoneyError, parse_decimal

    with pytest.raises(MoneyError) as caught:
        parse_decimal("twelve")
    assert caught.value.user_message == str(caught.value) and caught.value.code == "invalid_money"
    assert AispendError().user_message == "error"


def test_error_ids_are_short_and_distinct() -> None:
    ids = {new_error_id() for _ in range(100)}
    assert len(ids) == 100 and all(re.fullmatch(r"[0-9a-f]{8}", i) for i in ids)
