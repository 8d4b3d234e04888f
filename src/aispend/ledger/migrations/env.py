"""Alembic environment: runs against the connection handed over by aispend.ledger.db.upgrade."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection
from sqlmodel import SQLModel

import aispend.bot.models  # registers the Slack tables (outbox, alert messages, audit)
import aispend.governance.models  # (registers the governance tables)
import aispend.jobs.models  # registers job_state, job_run (operations)
import aispend.ledger.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from aispend.shadow import models as _shadow_models  # noqa: F401  (shadow AI tables)
from aispend.usage import models as _usage_models  # noqa: F401  (registers provider_usage)

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        engine = config.attributes["engine"]
        with engine.begin() as conn:
            _run(conn)
    else:
        _run(connection)


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite needs batch mode for ALTER
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
