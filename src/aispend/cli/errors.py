"""One line instead of a traceback, whichever command met the error: the root command group is the one
place where errors become what the user reads.

- A domain error (aispend.core.errors.AispendError): `error[<code>]: <message>`, exit 2.
- The database or file system cannot be used: a line naming the setting to look at and the cause (a URL
  shown with its password masked), exit 2.
- Anything else is a bug: it is logged with an error id and its traceback (to the log when logging is
  set up, as `aispend run` does; on stderr only with AISPEND_LOG_LEVEL=DEBUG), and the user sees one
  line naming the id, exit 70 (EX_SOFTWARE).

SQLAlchemy and the redaction are imported when an error is met, not at start-up (`aispend --help`
never touches a database).
"""

from __future__ import annotations

import errno
import logging
import os
import sys
from typing import TYPE_CHECKING, Any

import typer

from aispend.cli.lazy import LazyGroup
from aispend.core.errors import AispendError, new_error_id

if TYPE_CHECKING:
    from sqlalchemy.exc import DBAPIError

# File-system errors that are the environment's, not a bug: said in one line.
ENVIRONMENT_ERRNOS = {errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT, errno.ENOENT}
EXIT_DATABASE = 2  # as `aispend run` has always exited when it cannot open the database
EXIT_DOMAIN = 2  # a domain error: what the user asked cannot be done as given (as commands exited before)
EXIT_INTERNAL = 70  # a bug (sysexits' EX_SOFTWARE): told apart from a usage or data problem

log = logging.getLogger("aispend.cli")


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
    """The root group: every error a command lets through becomes one clear line and a non-zero exit."""

    def invoke(self, ctx: Any) -> Any:  # Any: click's Context, which typer vendors under a private name
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise  # click's own ways to stop: usage errors, --help, an exit code chosen by the command
        except AispendError as exc:
            _say(domain_error_line(exc))
            raise typer.Exit(EXIT_DOMAIN) from None
        except Exception as exc:
            line = _describe_for(ctx, exc) if is_environment_error(exc) else None
            if line is not None:
                _say(line)
                raise typer.Exit(EXIT_DATABASE) from None
            _say(report_unexpected(ctx, exc))
            raise typer.Exit(EXIT_INTERNAL) from None


def domain_error_line(exc: AispendError) -> str:
    """The one line a domain error is shown as. Pure."""
    from aispend.core.redact import redact

    return redact(f"error[{exc.code}]: {' '.join(exc.user_message.split())}")


def report_unexpected(ctx: Any, exc: BaseException) -> str:
    """Log `exc` (a bug) with a new error id and its traceback; the line that tells the user the id."""
    error_id = new_error_id()
    command = ctx.invoked_subcommand or ctx.info_name or "aispend"
    handler: logging.Handler | None = None
    if not logging.getLogger().hasHandlers() and _log_level(ctx) == "DEBUG":
        from aispend.core.redact import RedactingFilter

        handler = logging.StreamHandler(sys.stderr)  # no logging set up: the traceback on stderr when asked
        handler.addFilter(RedactingFilter())
        log.addHandler(handler)
    try:
        if logging.getLogger().hasHandlers() or handler is not None:  # else logging's last resort would print it
            log.error(
                "unexpected error in %s (error id %s)", command, error_id, exc_info=exc, extra={"error_id": error_id}
            )
            where = "the traceback is in the log"
        else:
            where = "run again with AISPEND_LOG_LEVEL=DEBUG to see the traceback"
    finally:
        if handler is not None:
            log.removeHandler(handler)
    return f"error[internal]: unexpected error (error id {error_id}); {where}"


def _log_level(ctx: Any) -> str:
    from aispend.cli.runtime import Runtime

    obj = ctx.find_root().obj
    if isinstance(obj, Runtime):
        return obj.settings.log_level
    return os.environ.get("AISPEND_LOG_LEVEL", "").upper()


def _say(line: str) -> None:
    from aispend.cli.runtime import err_console

    err_console.print(line, markup=False, highlight=False, soft_wrap=True)


def _describe_for(ctx: Any, exc: BaseException) -> str | None:
    from aispend.cli.runtime import Runtime

    obj = ctx.find_root().obj
    if isinstance(obj, Runtime):
        return describe_database_error(exc, obj.settings.database_url, obj.settings.sqlite_lock_wait_seconds)
    return describe_database_error(exc, "", 0)
