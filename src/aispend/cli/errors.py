"""One line instead of a traceback when the database cannot be used: the root command group maps
database and file-system errors, whichever command met them.

Each line names the setting to look at and the cause; a URL is shown with its password masked.
SQLAlchemy and the redaction are imported when an error is met, not at start-up (`aispend --help`
never touches a database).
"""

from __future__ import annotations

import errno
import sys
from typing import TYPE_CHECKING, Any

import typer

from aispend.cli.lazy import LazyGroup

if TYPE_CHECKING:
    from sqlalchemy.exc import DBAPIError

# File-system errors that are the environment's, not a bug: said in one line.
ENVIRONMENT_ERRNOS = {errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT, errno.ENOENT}
EXIT_DATABASE = 2  # as `aispend run` has always exited when it cannot open the database


def shown_url(url: str) -> str:
    """The URL with its password masked (or the text as given, masked, when it does not parse)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from aispend.core.redact import redact

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return redact(url)


def _first_line(exc: BaseException) -> str:
    from aispend.core.redact import redact

    text = str(exc).strip()
    return redact(text.splitlines()[0].strip()) if text else type(exc).__name__


def describe_database_error(exc: BaseException, url: str, lock_wait_seconds: float) -> str | None:
    """The one line that explains `exc`, or None when it is not a database or file-system problem. Pure."""
    from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

    where = f"AISPEND_DATABASE_URL ({shown_url(url)})"
    if isinstance(exc, NoSuchModuleError | ArgumentError):
        return f"{where} is not a database URL aispend can use: {_first_line(exc)}"
    if isinstance(exc, DBAPIError):
        cause = _first_line(exc.orig) if exc.orig is not None else _first_line(exc)
        lowered = cause.lower()
        if "database is locked" in lowered or "database table is locked" in lowered:
            return (
                f"{where}: the database is locked by another process; gave up after "
                f"AISPEND_SQLITE_LOCK_WAIT_SECONDS={lock_wait_seconds:g} s (let the other command finish, or raise it)"
            )
        if "readonly" in lowered or "read-only" in lowered or "unable to open database file" in lowered:
            return f"{where}: cannot write the database (read-only file or file system?): {cause}"
        if exc.connection_invalidated or _is_connect_error(exc):
            return f"{where}: cannot connect to the database: {cause}"
        return f"{where}: the database refused the operation: {cause}"
    if isinstance(exc, OSError) and exc.errno in ENVIRONMENT_ERRNOS:
        name = f" {exc.filename}" if exc.filename else ""
        return f"cannot use{name}: {exc.strerror or exc} (check AISPEND_DATABASE_URL and the paths given)"
    return None


def is_environment_error(exc: BaseException) -> bool:
    """An error of the environment (connection, lock, permissions, URL), not a bug such as a constraint or SQL
    error (which keeps its traceback)."""
    if isinstance(exc, OSError):
        return True
    if "sqlalchemy" not in sys.modules:
        return False  # no database was touched, so this cannot be a database error
    from sqlalchemy.exc import ArgumentError, InterfaceError, NoSuchModuleError, OperationalError

    return isinstance(exc, OperationalError | InterfaceError | ArgumentError | NoSuchModuleError)


def _is_connect_error(exc: DBAPIError) -> bool:
    text = str(exc.orig).lower()
    return any(
        marker in text
        for marker in ("connection refused", "could not connect", "connection failed", "does not exist", "timeout")
    )


class AispendGroup(LazyGroup):
    """The root group: a database or file-system error becomes one clear line and a non-zero exit."""

    def invoke(self, ctx: Any) -> Any:  # Any: click's Context, which typer vendors under a private name
        try:
            return super().invoke(ctx)
        except Exception as exc:
            if not is_environment_error(exc):
                raise
            line = _describe_for(ctx, exc)
            if line is None:
                raise
            from aispend.cli.runtime import err_console

            err_console.print(line, markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_DATABASE) from None


def _describe_for(ctx: Any, exc: BaseException) -> str | None:
    from aispend.cli.runtime import Runtime

    obj = ctx.find_root().obj
    if isinstance(obj, Runtime):
        return describe_database_error(exc, obj.settings.database_url, obj.settings.sqlite_lock_wait_seconds)
    return describe_database_error(exc, "", 0)
