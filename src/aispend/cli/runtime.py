"""What every command needs: settings read once, and a migrated engine on first use."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import typer
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy import Engine

from aispend.core.ledger.db import make_engine, upgrade
from aispend.core.redact import install_log_filter
from aispend.core.settings import Settings, load_settings
from aispend.core.timeutil import Clock, system_clock

if TYPE_CHECKING:
    from aispend.core.ledger.spend import SpendPolicy

err_console = Console(stderr=True)


@dataclass
class Runtime:
    settings: Settings
    clock: Clock = system_clock
    # How commands wait (sync retries and throttle waits); tests pass one that never sleeps.
    sleep: Callable[[float], None] = time.sleep
    _engine: Engine | None = field(default=None, repr=False)

    def engine(self) -> Engine:
        """The ledger engine, with every migration applied (commands that need the schema call this)."""
        if self._engine is None:
            self._engine = make_engine(
                self.settings.database_url, sqlite_lock_wait=self.settings.sqlite_lock_wait_seconds
            )
            upgrade(self._engine)
        return self._engine

    def say_currency_conversions(self) -> None:
        """After an import of amounts in another currency: converted at dated rates, or — for days
        with no rate — left out of every figure (said now, not discovered later in a report)."""
        from aispend.core.ledger.spend import currency_warnings

        with self.engine().connect() as conn:
            lines = currency_warnings(conn, self.spend_policy())
        for line in lines:
            if line.startswith("warning"):
                err_console.print(line, markup=False, highlight=False, soft_wrap=True)
            else:
                typer.echo(line)

    def spend_policy(self) -> SpendPolicy:
        """How spend is counted (currency, AISPEND_COST_BASIS, AISPEND_RATES_FILE); a rates file that
        cannot be read is one clear line and exit 2."""
        from aispend.core.ledger.spend import SpendPolicy
        from aispend.core.rates import RateError

        try:
            return SpendPolicy.from_settings(self.settings)
        except RateError as exc:
            err_console.print(f"[red]invalid setting[/red] AISPEND_RATES_FILE: {exc}")
            raise typer.Exit(2) from None


def runtime(ctx: typer.Context) -> Runtime:
    root = ctx.find_root()
    if root.obj is None:
        try:
            root.obj = Runtime(settings=load_settings())
            install_log_filter()
        except ValidationError as exc:
            for error in exc.errors():
                name = ".".join(str(p) for p in error["loc"]) or "settings"
                err_console.print(f"[red]invalid setting[/red] {name}: {error['msg']}")
            raise typer.Exit(2) from None
    assert isinstance(root.obj, Runtime)
    return root.obj
