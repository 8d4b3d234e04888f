"""Where outbox rows go: Slack's Web API (slack_sdk, with its retry handlers) or the terminal."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TextIO

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.webhook import WebhookClient

from aispend.bot.models import KIND_POST, KIND_RESPOND, KIND_UPDATE, KIND_UPLOAD, OutboxMessage
from aispend.bot.outbox import Delivered, InDoubt, PermanentError, RetryLater

METADATA_EVENT = "aispend_outbox"
# Slack error codes worth another try later; anything else is permanent (bad channel, bad auth...).
RETRYABLE_ERRORS = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}

Sleep = Callable[[float], None]


class RetryAfterHandler(RateLimitErrorRetryHandler):
    """slack_sdk's 429 handler (waits Retry-After seconds), with the sleep injectable for tests."""

    def __init__(self, max_retry_count: int, sleep: Sleep = time.sleep) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.sleep = sleep

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        if response is None:
            raise error  # type: ignore[misc]
        state.next_attempt_requested = True
        value = next((v for k, v in response.headers.items() if k.lower() == "retry-after"), None)
        seconds = 1.0
        if value:
            try:
                seconds = float(value[0] if isinstance(value, list) else value)
            except ValueError:
                seconds = 1.0
        self.sleep(seconds)
        state.increment_current_attempt()


def retry_handlers(max_retries: int, sleep: Sleep = time.sleep) -> list[Any]:
    return [ConnectionErrorRetryHandler(max_retry_count=max_retries), RetryAfterHandler(max_retries, sleep)]


def make_client(
    token: str, base_url: str, *, max_retries: int = 5, sleep: Sleep = time.sleep, timeout: float = 30
) -> WebClient:
    client = WebClient(token=token, base_url=base_url, timeout=timeout)  # type: ignore[arg-type]
    client.retry_handlers = retry_handlers(max_retries, sleep)
    return client


class SlackTransport:
    def __init__(self, client: WebClient, *, max_retries: int = 5, sleep: Sleep = time.sleep) -> None:
        self.client = client
        self.max_retries = max_retries
        self.sleep = sleep

    def send(self, row: OutboxMessage, parent: OutboxMessage | None) -> Delivered:
        try:
            return self._send(row, parent)
        except SlackApiError as exc:
            error = str(exc.response.get("error", "")) if exc.response is not None else ""
            status = exc.response.status_code if exc.response is not None else 0
            if error in RETRYABLE_ERRORS or status == 429 or status >= 500:
                raise RetryLater(f"{row.kind} {row.idempotency_key}: {error or status}") from None
            raise PermanentError(f"{row.kind} {row.idempotency_key}: Slack said {error or status}") from None
        except TimeoutError as exc:  # sent, but no answer in time: Slack may well have it
            raise InDoubt(f"{row.kind} {row.idempotency_key}: no answer in time ({exc or 'timed out'})") from None
        except OSError as exc:
            raise RetryLater(f"{row.kind} {row.idempotency_key}: {exc}") from None

    def _send(self, row: OutboxMessage, parent: OutboxMessage | None) -> Delivered:
        thread_ts = parent.ts if parent is not None and row.kind in (KIND_POST, KIND_UPLOAD) else None
        if row.kind == KIND_POST:
            channel = parent.sent_channel or parent.channel if parent is not None else row.channel
            response = self.client.chat_postMessage(
                channel=channel,
                text=row.text,
                blocks=row.blocks or None,
                thread_ts=thread_ts,
                metadata={"event_type": METADATA_EVENT, "event_payload": {"key": row.idempotency_key}},
                unfurl_links=False,
            )
            return Delivered(ts=response.get("ts"), channel=response.get("channel"))
        if row.kind == KIND_UPDATE:
            assert parent is not None, "an update always names the message it updates"
            response = self.client.chat_update(
                channel=parent.sent_channel or parent.channel,
                ts=parent.ts or "",
                text=row.text,
                blocks=row.blocks or None,
            )
            return Delivered(ts=response.get("ts"), channel=response.get("channel"))
        if row.kind == KIND_UPLOAD:
            channel = parent.sent_channel or parent.channel if parent is not None else row.channel
            response = self.client.files_upload_v2(
                channel=channel,
                content=row.file_bytes,
                filename=row.file_name or "chart.png",
                title=row.file_title or row.file_name,
                alt_txt=row.file_title,
                thread_ts=thread_ts,
            )
            file = response.get("file") or {}
            return Delivered(ts=f"file:{file.get('id', '')}", channel=channel)
        if row.kind == KIND_RESPOND:
            webhook = WebhookClient(row.response_url or "", retry_handlers=retry_handlers(self.max_retries, self.sleep))
            result = webhook.send(
                text=row.text,
                blocks=row.blocks or None,
                response_type=row.channel or "ephemeral",
            )
            if result.status_code == 429 or result.status_code >= 500:
                raise RetryLater(f"response_url answered {result.status_code}")
            if result.status_code != 200:
                raise PermanentError(f"response_url answered {result.status_code}: {result.body}")
            return Delivered(ts=None, channel=None)
        raise PermanentError(f"unknown outbox kind {row.kind!r}")

    def find_delivered(self, row: OutboxMessage, parent: OutboxMessage | None) -> Delivered | None:
        if row.kind == KIND_UPDATE:
            return None  # chat.update is idempotent: sending it again is harmless
        if row.kind == KIND_RESPOND:
            # An ephemeral reply cannot be looked up; a second copy would be worse than a possibly lost one.
            return Delivered(ts=None, channel=None)
        channel = (parent.sent_channel or parent.channel) if parent is not None else row.channel
        oldest = (row.claimed_at or row.created_at) - timedelta(minutes=5)
        try:
            if parent is not None and parent.ts and row.kind == KIND_POST:
                response = self.client.conversations_replies(
                    channel=channel,
                    ts=parent.ts,
                    oldest=f"{oldest.timestamp():.6f}",
                    include_all_metadata=True,
                    limit=200,
                )
            else:
                response = self.client.conversations_history(
                    channel=channel,
                    oldest=f"{oldest.timestamp():.6f}",
                    include_all_metadata=True,
                    limit=200,
                )
        except (SlackApiError, OSError) as exc:  # OSError: unreachable or timed out, the look-up says nothing
            raise RetryLater(f"cannot check whether {row.idempotency_key} arrived: {exc}") from None
        for message in response.get("messages") or []:
            if row.kind == KIND_POST:
                payload = (message.get("metadata") or {}).get("event_payload") or {}
                if payload.get("key") == row.idempotency_key:
                    return Delivered(ts=message.get("ts"), channel=channel)
            elif row.kind == KIND_UPLOAD:
                for file in message.get("files") or []:
                    if file.get("title") == row.file_title:
                        return Delivered(ts=f"file:{file.get('id', '')}", channel=channel)
        return None


_EMOJI = re.compile(r":([a-z0-9_+-]+):")
TERMINAL_EMOJI = {
    "red_circle": "🔴",
    "large_yellow_circle": "🟡",
    "large_green_circle": "🟢",
    "white_circle": "⚪",
    "warning": "⚠️",
    "white_check_mark": "✅",
}
_BOLD = re.compile(r"\*([^*\n]+)\*")
_ITALIC = re.compile(r"(?<!\w)_([^_\n]+)_(?!\w)")
_MENTION = re.compile(r"<([@#!])([^>|]+)(?:\|([^>]*))?>")


def plain_text(mrkdwn: str) -> str:
    """Slack mrkdwn made readable on a terminal: mentions as @U123, entities decoded."""
    text = _MENTION.sub(lambda m: m.group(3) or f"{'@' if m.group(1) == '@' else m.group(1)}{m.group(2)}", mrkdwn)
    text = _EMOJI.sub(lambda m: TERMINAL_EMOJI.get(m.group(1), m.group(0)), text)
    text = _BOLD.sub(r"\1", text)
    text = _ITALIC.sub(r"\1", text)
    return html.unescape(text)


def blocks_as_text(blocks: list[dict[str, Any]], fallback: str) -> str:
    """A readable rendering of blocks for the terminal sink."""
    if not blocks:
        return plain_text(fallback)
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            title = block["text"]["text"]
            lines += [title, "=" * min(len(title), 80)]
        elif kind == "section":
            if block.get("text"):
                lines.append(plain_text(block["text"]["text"]))
            for f in block.get("fields", []):
                lines.append("  " + plain_text(f["text"]).replace("\n", ": ", 1))
        elif kind == "context":
            lines += [plain_text(e.get("text", "")) for e in block.get("elements", [])]
        elif kind == "divider":
            lines.append("-" * 40)
        elif kind == "actions":
            labels = [e.get("text", e.get("placeholder", {})).get("text", "") for e in block.get("elements", [])]
            lines.append("[" + "] [".join(labels) + "]")
    return "\n".join(lines)


class TerminalTransport:
    """The sink when no SLACK_BOT_TOKEN is configured (the demo): the same messages, as readable text."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def send(self, row: OutboxMessage, parent: OutboxMessage | None) -> Delivered:
        where = {
            KIND_POST: f"to {row.channel or 'channel'}" + (f" (thread of {row.parent_key})" if row.parent_key else ""),
            KIND_UPDATE: f"update of {row.parent_key}",
            KIND_UPLOAD: f"file {row.file_name} ({len(row.file_bytes or b'')} bytes) to {row.channel}",
            KIND_RESPOND: f"reply ({row.channel})",
        }.get(row.kind, row.kind)
        self.stream.write(f"\n--- Slack message {where} [{row.idempotency_key}] ---\n")
        self.stream.write(blocks_as_text(row.blocks, row.text) + "\n")
        self.stream.flush()
        return Delivered(ts=f"terminal.{row.id}", channel=row.channel or None)

    def find_delivered(self, row: OutboxMessage, parent: OutboxMessage | None) -> Delivered | None:
        return None  # printing again after a crash is harmless
