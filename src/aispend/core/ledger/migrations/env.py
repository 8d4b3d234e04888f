"""Alembic environment: runs against the connection handed over by aispend.core.ledger.db.upgrade."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

# The migrations are written by hand, so running them needs no models; whoever compares the schema
# with the models (tests, autogenerate) passes the metadata in `config.attributes["target_metadata"]`.
# That keeps the ledger package free of imports from the layers above it (bot, jobs).

config = context.config
target_metadata = config.attributes.get("target_metadata")


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
