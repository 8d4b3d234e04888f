"""One root for the errors a user can act on: each has a stable `code` and says what is wrong.

A domain error is raised where the problem is found and turned into words for the user in one place
per surface: the CLI's root group (aispend.cli.errors) prints `error[<code>]: <message>` and exits 2,
and the Slack app's error handler (aispend.bot.app) answers with the message. Anything that is not an
AispendError is a bug: it is logged with an error id, and the user is shown that id, not a traceback.

Subclasses also keep the builtin they always had (ValueError, LookupError...), so code that catches
the builtin behaves as before. `code` is part of the interface: short snake case, never reworded.
"""

from __future__ import annotations

import uuid
from typing import ClassVar


class AispendError(Exception):
    """A problem the user can act on; `str(error)` is the message shown to them."""

    code: ClassVar[str] = "error"

    @property
    def user_message(self) -> str:
        return str(self).strip() or self.code.replace("_", " ")


def new_error_id() -> str:
    """A short id (8 hex characters) that ties what the user is shown to the logged traceback."""
    return uuid.uuid4().hex[:8]
