"""`/aispend` text -> a parsed command, or a usage error that says exactly what was wrong. Pure."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from aispend.core.money import MoneyError, parse_decimal

USAGE: dict[str, str] = {
    "help": "/aispend help",
    "top": "/aispend top [week|month] [N]",
    "workflow": "/aispend workflow NAME",
    "team": "/aispend team NAME",
    "model": "/aispend model NAME",
    "status": "/aispend status",
    "forecast": "/aispend forecast",
    "changes": "/aispend changes",
    "shadow": "/aispend shadow [YYYY-MM]",
    "thresholds": "/aispend thresholds  |  /aispend thresholds set SCOPE yellow=AMOUNT red=AMOUNT",
    "owner": "/aispend owner WORKFLOW @user",
    "outcome": '/aispend outcome WORKFLOW [unit=UNIT] [name="DISPLAY NAME"]',
    "estimate": "/aispend estimate dau=N actions=N tokens=N model=MODEL [multiplier=K] [output=SHARE]",
    "sync": "/aispend sync",
}
HELP_LINES = {
    "help": "this help",
    "top": "the most expensive workflows (default: this week, 5)",
    "workflow": "cost, trend, cost per run and per outcome, owner, models, thresholds",
    "team": "a team's cost by workflow",
    "model": "a model's cost by workflow",
    "status": "every scope's colour and the numbers behind it",
    "forecast": "this month's forecast against budget",
    "changes": "what moved this week and why",
    "shadow": "shadow-AI findings (per-person detail for finance admins)",
    "thresholds": "show thresholds; `set` changes one (finance admins)",
    "owner": "set a workflow's owner (finance admins or the current owner)",
    "outcome": "set what one outcome of a workflow is and/or its display name (finance admins or the owner)",
    "estimate": "estimate the monthly cost of a new feature",
    "sync": "sync every source now (admins)",
}
MAX_TOP = 25
MAX_AMOUNT_TEXT = 64  # an amount's text longer than this is not repeated in the reply
MAX_NAME = 128  # the ledger's workflow, team and model keys are at most 128 characters
SHARE_FLAG = "--share"
SCOPE_KINDS = ("company", "workflow", "team", "model")
_USER = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
# Months from 2000-01 to 2999-12: the shadow-AI report looks months back and ahead, which the calendar
# cannot do at year 1 or 9999. ASCII digits only (str.isdigit() also accepts "²" and "٣").
FIRST_MONTH, LAST_MONTH = "2000-01", "2999-12"
_MONTH = re.compile(r"^2[0-9]{3}-(0[1-9]|1[0-2])$")
_DIGITS = re.compile(r"^[0-9]+$")
# A count may be grouped by thousands (1,000 or 1_000); a count is whole, so "1,000" cannot be a decimal.
_COUNT = re.compile(r"^([0-9]+|[0-9]{1,3}(,[0-9]{3})+|[0-9]{1,3}(_[0-9]{3})+)$")
# Bounds of `estimate`: far above any real feature, low enough that the arithmetic stays exact.
ESTIMATE_MAX = {"dau": 10_000_000_000, "actions": 1_000_000, "tokens": 10_000_000}
MAX_MULTIPLIER = 1_000
# A fraction as `aispend estimate` takes one (actions=0.5, output=0.4), ASCII digits and a decimal point.
_FRACTION = re.compile(r"^[0-9]*\.[0-9]+$")
MAX_NUMBER_TEXT = 32


@dataclass(frozen=True)
class Command:
    name: str
    args: dict[str, object] = field(default_factory=dict)
    share: bool = False


@dataclass(frozen=True)
class UsageError:
    problem: str
    usage: str

    def message(self) -> str:
        return f"{self.problem}\nUsage: `{self.usage}`"


ArgParser = Callable[[list[str]], "dict[str, object] | UsageError"]


def help_text() -> str:
    return "\n".join(f"`{USAGE[name]}` — {HELP_LINES[name]}" for name in USAGE) + (
        f"\nAdd `{SHARE_FLAG}` to post the reply in the channel."
    )


def parse(text: str) -> Command | UsageError:
    words = text.split()
    share = SHARE_FLAG in words
    words = [w for w in words if w != SHARE_FLAG]
    if not words:
        return Command("help", share=share)
    name, rest = words[0].lower(), words[1:]
    parser = _PARSERS.get(name)
    if parser is None:
        guess = difflib.get_close_matches(name, list(USAGE), n=1)
        hint = f" Did you mean `{guess[0]}`?" if guess else ""
        return UsageError(f"Unknown subcommand `{_quote(words[0])}`.{hint}", "/aispend help")
    result = parser(rest)
    if isinstance(result, UsageError):
        return result
    return Command(name, result, share=share)


def _quote(word: str) -> str:
    return word.replace("`", "'")[:80]


def _no_args(name: str) -> ArgParser:
    def parse_none(rest: list[str]) -> dict[str, object] | UsageError:
        if rest:
            return UsageError(f"`{name}` takes no arguments, got `{_quote(' '.join(rest))}`.", USAGE[name])
        return {}

    return parse_none


def _name_too_long(value: str, what: str, usage: str) -> UsageError | None:
    if len(value) <= MAX_NAME:
        return None
    return UsageError(f"A {what} name has at most {MAX_NAME} characters, got {len(value)}.", usage)


def _one_name(name: str, what: str) -> ArgParser:
    def parse_name(rest: list[str]) -> dict[str, object] | UsageError:
        if not rest:
            return UsageError(f"`{name}` needs a {what} name.", USAGE[name])
        value = " ".join(rest)
        return _name_too_long(value, what, USAGE[name]) or {"name": value}

    return parse_name


def _top(rest: list[str]) -> dict[str, object] | UsageError:
    period, limit = "week", 5
    for word in rest:
        if word.lower() in ("week", "month"):
            period = word.lower()
        elif _DIGITS.match(word):
            limit = int(word)
            if not 1 <= limit <= MAX_TOP:
                return UsageError(f"N must be between 1 and {MAX_TOP}, got {limit}.", USAGE["top"])
        else:
            return UsageError(f"`{_quote(word)}` is neither `week`, `month` nor a number.", USAGE["top"])
    return {"period": period, "limit": limit}


def _shadow(rest: list[str]) -> dict[str, object] | UsageError:
    if not rest:
        return {"month": None}
    if len(rest) > 1 or not _MONTH.match(rest[0]):
        return UsageError(
            f"`{_quote(' '.join(rest))}` is not a month from {FIRST_MONTH} to {LAST_MONTH} (YYYY-MM).",
            USAGE["shadow"],
        )
    return {"month": rest[0]}


def parse_amount(text: str, what: str) -> Decimal | UsageError:
    """An amount as core.money reads it (an ambiguous comma is refused, with the reason); "$" is allowed.
    Whether the ledger can store it exactly is checked where it is stored (per database)."""
    try:
        value = parse_decimal(text.strip().removeprefix("$"), what=what)
    except MoneyError as exc:
        if "," in text and len(text) <= MAX_AMOUNT_TEXT:
            return UsageError(f"{exc}.", USAGE["thresholds"])  # why a comma is refused (ambiguous)
        return UsageError(f"{what} `{_quote(text)}` is not an amount.", USAGE["thresholds"])
    if value < 0:
        return UsageError(f"{what} must not be negative, got `{_quote(text)}`.", USAGE["thresholds"])
    return value


def _thresholds(rest: list[str]) -> dict[str, object] | UsageError:
    if not rest:
        return {"action": "show"}
    if rest[0].lower() != "set":
        return UsageError(f"`thresholds` takes `set` or nothing, got `{_quote(rest[0])}`.", USAGE["thresholds"])
    if len(rest) < 3:
        return UsageError("`thresholds set` needs a scope and at least one of yellow=, red=.", USAGE["thresholds"])
    scope = rest[1]
    kind, _, value = scope.partition(":")
    too_long = _name_too_long(value, kind, USAGE["thresholds"])
    if too_long is not None:
        return too_long
    if kind not in SCOPE_KINDS or (kind != "company" and not value) or (kind == "company" and value):
        return UsageError(
            f"Scope `{_quote(scope)}` must be `company` or `workflow:NAME`, `team:NAME`, `model:NAME`.",
            USAGE["thresholds"],
        )
    levels: dict[str, Decimal] = {}
    for word in rest[2:]:
        key, sep, amount = word.partition("=")
        if not sep or key.lower() not in ("yellow", "red"):
            return UsageError(f"`{_quote(word)}` should be yellow=AMOUNT or red=AMOUNT.", USAGE["thresholds"])
        parsed = parse_amount(amount, key.lower())
        if isinstance(parsed, UsageError):
            return parsed
        levels[key.lower()] = parsed
    if "yellow" in levels and "red" in levels and levels["yellow"] > levels["red"]:
        return UsageError("yellow must not be above red.", USAGE["thresholds"])
    return {"action": "set", "scope_kind": kind, "scope": value, **levels}


def _owner(rest: list[str]) -> dict[str, object] | UsageError:
    if len(rest) != 2:
        return UsageError("`owner` needs a workflow and a @user.", USAGE["owner"])
    too_long = _name_too_long(rest[0], "workflow", USAGE["owner"])
    if too_long is not None:
        return too_long
    match = _USER.match(rest[1])
    if match is None:
        return UsageError(f"`{_quote(rest[1])}` is not a @user mention.", USAGE["owner"])
    return {"workflow": rest[0], "user": match.group(1)}


OUTCOME_KEYS = ("unit", "name")
_OUTCOME_FIELD = re.compile(r"(unit|name)=", re.IGNORECASE)
_NEXT_OUTCOME_FIELD = re.compile(r" (unit|name)=", re.IGNORECASE)
_CLOSING_QUOTE = {'"': '"', "\u201c": "\u201d"}  # "…" and the “…” a phone or a Mac may type


def _slack_text(value: str) -> str:
    """Slack sends &, < and > in a command's text as entities; the stored name is the text as typed."""
    return value.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _outcome(rest: list[str]) -> dict[str, object] | UsageError:
    """`outcome WORKFLOW unit=UNIT name=NAME`: a value runs to the next unit=/name= or the end, or is
    quoted. Whether a value fits (length) is checked where it is stored, as for the CLI."""
    usage = USAGE["outcome"]
    if not rest or _OUTCOME_FIELD.match(rest[0]):
        return UsageError("`outcome` needs a workflow, then unit= and/or name=.", usage)
    workflow = rest[0]
    too_long = _name_too_long(workflow, "workflow", usage)
    if too_long is not None:
        return too_long
    text = " ".join(rest[1:])
    if not text:
        return UsageError(f"`outcome {_quote(workflow)}` needs unit= and/or name=.", usage)
    values: dict[str, object] = {}
    pos = 0
    while pos < len(text):
        match = _OUTCOME_FIELD.match(text, pos)
        if match is None:
            return UsageError(f"`{_quote(text[pos:].split(' ', 1)[0])}` should be unit=UNIT or name=NAME.", usage)
        key = match.group(1).lower()
        if key in values:
            return UsageError(f"`{key}=` is given twice.", usage)
        pos = match.end()
        closing = _CLOSING_QUOTE.get(text[pos : pos + 1])
        if closing is not None:
            end = text.find(closing, pos + 1)
            if end == -1:
                return UsageError(f"The quote after `{key}=` is not closed.", usage)
            value, pos = text[pos + 1 : end], end + 1
            if pos < len(text) and text[pos] != " ":
                return UsageError(f"Put a space after the closing quote of `{key}=`.", usage)
        else:
            following = _NEXT_OUTCOME_FIELD.search(text, pos)
            end = following.start() if following else len(text)
            value, pos = text[pos:end], end
        value = _slack_text(value).strip()
        if not value:
            return UsageError(f"`{key}=` needs a value.", usage)
        values[key] = value
        pos += 1 if text[pos : pos + 1] == " " else 0
    return {"workflow": workflow, "unit": values.get("unit"), "display_name": values.get("name")}


ESTIMATE_KEYS = ("dau", "actions", "tokens", "model")
# Optional, as `aispend estimate --agentic-multiplier K --output-share S` (the CLI's names work too).
ESTIMATE_OPTIONS = {
    "multiplier": "multiplier",
    "agentic_multiplier": "multiplier",
    "agentic-multiplier": "multiplier",
    "output": "output",
    "output_share": "output",
    "output-share": "output",
}


def _estimate(rest: list[str]) -> dict[str, object] | UsageError:
    usage = USAGE["estimate"]
    values: dict[str, object] = {}
    for word in rest:
        key, sep, value = word.partition("=")
        key = ESTIMATE_OPTIONS.get(key.lower(), key.lower())
        if not sep or key not in (*ESTIMATE_KEYS, "multiplier", "output") or not value:
            return UsageError(
                f"`{_quote(word)}` should be one of dau=, actions=, tokens=, model=, multiplier=, output=.", usage
            )
        if key == "model":
            too_long = _name_too_long(value, "model", usage)
            if too_long is not None:
                return too_long
            values[key] = value
            continue
        number = _estimate_number(value, fraction=key != "dau" and key != "tokens")
        if key == "multiplier":
            if number is None or not 1 <= number <= MAX_MULTIPLIER:
                return UsageError(
                    f"multiplier (calls per user action) must be a number from 1 to {MAX_MULTIPLIER:,},"
                    f" got `{_quote(value)}`.",
                    usage,
                )
        elif key == "output":
            if number is None or not 0 <= number <= 1:
                return UsageError(
                    f"output (the share of tokens that are output) must be from 0 to 1 such as 0.25,"
                    f" got `{_quote(value)}`.",
                    usage,
                )
        elif key == "actions":
            if number is None or not 0 < number <= ESTIMATE_MAX[key]:
                return UsageError(
                    f"actions must be a number above 0 up to {ESTIMATE_MAX[key]:,} (1,000 or 0.5),"
                    f" got `{_quote(value)}`.",
                    usage,
                )
        elif number is None or not 1 <= number <= ESTIMATE_MAX[key]:
            return UsageError(
                f"{key} must be a whole number from 1 to {ESTIMATE_MAX[key]:,}, got `{_quote(value)}`.", usage
            )
        values[key] = number
    missing = [k for k in ESTIMATE_KEYS if k not in values]
    if missing:
        return UsageError(f"`estimate` is missing {', '.join(k + '=' for k in missing)}.", usage)
    return values


def _estimate_number(value: str, *, fraction: bool) -> int | Decimal | None:
    """A count (1,000 or 1_000), or with `fraction` also a decimal such as 0.5; None if neither."""
    if len(value) > MAX_NUMBER_TEXT:
        return None
    if _COUNT.match(value):
        return int(value.replace(",", "").replace("_", ""))
    if fraction and _FRACTION.match(value):
        return Decimal(value)
    return None


_PARSERS = {
    "help": _no_args("help"),
    "top": _top,
    "workflow": _one_name("workflow", "workflow"),
    "team": _one_name("team", "team"),
    "model": _one_name("model", "model"),
    "status": _no_args("status"),
    "forecast": _no_args("forecast"),
    "changes": _no_args("changes"),
    "shadow": _shadow,
    "thresholds": _thresholds,
    "owner": _owner,
    "outcome": _outcome,
    "estimate": _estimate,
    "sync": _no_args("sync"),
}


def did_you_mean(name: str, known: list[str]) -> str | None:
    """The closest known name to a misspelled one, if any is close enough."""
    lowered = {k.lower(): k for k in known}
    guess = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[guess[0]] if guess else None
