"""What a listener lets through is said in one place, the Bolt app's error handler: a domain error is its
user message, anything else is logged with an error id and its traceback and the user reads the id.
Over real HTTP against the real Bolt app (tests/bot/test_slack_e2e.py's harness)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine, text

from tests.bot.test_slack_e2e import Harness, running_bot

SOMETHING_WENT_WRONG = re.compile(r"Something went wrong \(error id ([0-9a-f]{8})\); it is in the bot's log\.")


@pytest.fixture
def harness(engine: Engine) -> Iterator[Harness]:
    with running_bot(engine) as running:
        yield running


@contextmanager
def table_away(engine: Engine, name: str) -> Iterator[None]:
    """A real database failure: the table is renamed for the duration (and put back)."""
    with engine.begin() as conn:
        conn.execute(text(f"ALTER TABLE {name} RENAME TO {name}_away"))
    try:
        yield
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"ALTER TABLE {name}_away RENAME TO {name}"))


def test_a_click_on_an_alert_no_longer_tracked_is_told_so(harness: Harness) -> None:
    assert (
        harness.click("alert_ack", "threshold|team:nobody|month|2026-11", "U0FIN", action_ts="7.1").status_code == 200
    )
    harness.fake.wait_for(lambda f: len(f.of("response")) == 1)
    [reply] = harness.replies()
    assert reply["text"] == "This alert is no longer tracked by aispend."
    assert reply["response_type"] == "ephemeral" and reply["replace_original"] is False


def test_a_database_failure_in_a_command_is_logged_with_an_id_the_user_is_shown(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="aispend.bot.app"), table_away(harness.engine, "gov_threshold"):
        assert harness.command("thresholds", trigger="broken").status_code == 200  # acked before the work
        harness.fake.wait_for(lambda f: len(f.of("response")) == 1)
    [reply] = harness.replies()
    shown = SOMETHING_WENT_WRONG.fullmatch(reply["text"])
    assert shown is not None and reply["response_type"] == "ephemeral", reply
    assert "gov_threshold" not in reply["text"] and "Traceback" not in reply["text"]
    [record] = [r for r in caplog.records if getattr(r, "error_id", None) == shown.group(1)]
    assert record.levelno == logging.ERROR and "/aispend thresholds" in record.getMessage()
    assert record.exc_info is not None and "gov_threshold" in str(record.exc_info[1])

    harness.command("thresholds", trigger="mended")  # the table back: the same command answers
    harness.fake.wait_for(lambda f: len(f.of("response")) == 2)
    assert harness.replies()[1]["text"].startswith("Thresholds")
