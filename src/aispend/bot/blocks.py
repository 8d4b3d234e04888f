"""Block Kit building blocks, escaping, and the limits check every rendered message passes.

Limits (Slack docs): 50 blocks per message (100 in a Home tab), 3,000 characters per section text and
per context element, 150 per header, 10 fields per section of 2,000 characters each, 75 per button label.
Messages also fail with `msg_blocks_too_long` somewhere near 13k characters of block text, so we keep
block text under 12,000 (a safety margin, not an official number).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

MAX_BLOCKS = 50
MAX_HOME_BLOCKS = 100
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_BUTTON_TEXT = 75
MAX_TOTAL_BLOCK_TEXT = 12000
MAX_FALLBACK_TEXT = 40000
ELLIPSIS = "…"

Block = dict[str, Any]

_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_ENTITY = re.compile(r"&(amp|lt|gt);")


@dataclass(frozen=True)
class Message:
    """A rendered message: plain-text fallback plus blocks. Pure data, JSON-ready."""

    text: str
    blocks: list[Block] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks}


class LimitError(ValueError):
    """A rendered message breaks a Block Kit limit (a renderer bug: renderers must fit by construction)."""


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn reserves (&, <, >)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mention(owner: str) -> str:
    """`<@U123>` for a Slack user id, the escaped text otherwise, "no owner" when empty."""
    if not owner:
        return "_no owner_"
    if _USER_ID.match(owner):
        return f"<@{owner}>"
    return escape(owner)


def clip(text: str, limit: int) -> str:
    """Cut escaped text to `limit` characters without splitting an &amp;-style entity."""
    if len(text) <= limit:
        return text
    cut = text[: limit - len(ELLIPSIS)]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + ELLIPSIS


def clip_lines(lines: list[str], limit: int, more: str = "…and {n} more") -> str:
    """Join lines with newlines, dropping whole lines (with a count) to stay within `limit`."""
    out: list[str] = []
    used = 0
    for index, line in enumerate(lines):
        line = clip(line, limit)
        remaining = len(lines) - index - 1
        tail = len(more.format(n=remaining)) + 1 if remaining else 0
        if used + len(line) + (1 if out else 0) + tail > limit:
            out.append(more.format(n=len(lines) - index))
            break
        out.append(line)
        used += len(line) + (1 if len(out) > 1 else 0)
    return "\n".join(out)


def header(text: str) -> Block:
    return {
        "type": "header",
        "text": {"type": "plain_text", "text": clip(text, MAX_HEADER_TEXT), "emoji": True},
    }


def section(mrkdwn: str, *, fields: list[str] | None = None, accessory: Block | None = None) -> Block:
    block: Block = {"type": "section", "text": {"type": "mrkdwn", "text": clip(mrkdwn, MAX_SECTION_TEXT)}}
    if fields:
        block["fields"] = [{"type": "mrkdwn", "text": clip(f, MAX_FIELD_TEXT)} for f in fields[:MAX_FIELDS]]
    if accessory:
        block["accessory"] = accessory
    return block


def context(mrkdwn: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(mrkdwn, MAX_SECTION_TEXT)}]}


def divider() -> Block:
    return {"type": "divider"}


def button(label: str, action_id: str, value: str, style: str | None = None) -> Block:
    element: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": clip(label, MAX_BUTTON_TEXT), "emoji": True},
        "action_id": action_id,
        "value": value,
    }
    if style:
        element["style"] = style
    return element


def image(url: str, alt: str) -> Block:
    return {"type": "image", "image_url": url, "alt_text": clip(alt, 2000)}


def check_limits(message: Message, *, max_blocks: int = MAX_BLOCKS) -> Message:
    """Raise LimitError naming every broken limit; return the message unchanged when it fits."""
    problems = limit_problems(message.blocks, max_blocks=max_blocks)
    if not message.text.strip():
        problems.append("the plain-text fallback is empty")
    if len(message.text) > MAX_FALLBACK_TEXT:
        problems.append(f"fallback text is {len(message.text)} characters (max {MAX_FALLBACK_TEXT})")
    problems.extend(_unescaped(message.text, "fallback text", mrkdwn=True))
    if problems:
        raise LimitError("; ".join(problems))
    return message


def limit_problems(blocks: list[Block], *, max_blocks: int = MAX_BLOCKS) -> list[str]:
    problems: list[str] = []
    if len(blocks) > max_blocks:
        problems.append(f"{len(blocks)} blocks (max {max_blocks})")
    total = 0
    for index, block in enumerate(blocks):
        where = f"block {index} ({block.get('type')})"
        kind = block.get("type")
        if kind == "header":
            text = block["text"]["text"]
            total += len(text)
            if len(text) > MAX_HEADER_TEXT:
                problems.append(f"{where}: header is {len(text)} characters (max {MAX_HEADER_TEXT})")
        if kind == "section":
            text_obj = block.get("text")
            if text_obj:
                text = text_obj["text"]
                total += len(text)
                if len(text) > MAX_SECTION_TEXT:
                    problems.append(f"{where}: text is {len(text)} characters (max {MAX_SECTION_TEXT})")
                problems.extend(_unescaped(text, where, mrkdwn=text_obj["type"] == "mrkdwn"))
            fields = block.get("fields", [])
            if len(fields) > MAX_FIELDS:
                problems.append(f"{where}: {len(fields)} fields (max {MAX_FIELDS})")
            for f in fields:
                total += len(f["text"])
                if len(f["text"]) > MAX_FIELD_TEXT:
                    problems.append(f"{where}: a field is {len(f['text'])} characters (max {MAX_FIELD_TEXT})")
                problems.extend(_unescaped(f["text"], where, mrkdwn=f["type"] == "mrkdwn"))
        if kind == "context":
            for element in block.get("elements", []):
                if element.get("type") == "mrkdwn":
                    total += len(element["text"])
                    if len(element["text"]) > MAX_SECTION_TEXT:
                        problems.append(f"{where}: context text over {MAX_SECTION_TEXT} characters")
                    problems.extend(_unescaped(element["text"], where, mrkdwn=True))
        if kind == "actions":
            for element in block.get("elements", []):
                label = element.get("text", {}).get("text", "")
                if len(label) > MAX_BUTTON_TEXT:
                    problems.append(f"{where}: button label over {MAX_BUTTON_TEXT} characters")
    if total > MAX_TOTAL_BLOCK_TEXT:
        problems.append(f"{total} characters of block text (keep under {MAX_TOTAL_BLOCK_TEXT})")
    return problems


_ALLOWED_ANGLE = re.compile(
    r"<(@[UW][A-Z0-9]+|#[C][A-Z0-9]+(\|[^<>]*)?|!subteam\^S[A-Z0-9]+|!here|https?://[^<>|]+(\|[^<>]*)?)>"
)


def _unescaped(text: str, where: str, *, mrkdwn: bool) -> list[str]:
    """A bare & < > in mrkdwn means a renderer forgot to escape user text."""
    if not mrkdwn:
        return []
    stripped = _ALLOWED_ANGLE.sub("", text)
    stripped = _ENTITY.sub("", stripped)
    bad = sorted({c for c in stripped if c in "&<>"})
    if bad:
        return [f"{where}: unescaped {' '.join(bad)} in mrkdwn"]
    return []
