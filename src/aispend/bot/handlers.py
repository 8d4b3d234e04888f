"""Thin command handlers: parse, check permission, query, render. Return the reply; the caller sends it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Engine

from aispend.bot import audit
from aispend.bot.blocks import Message, clip_lines, escape, mention
from aispend.bot.commands import USAGE, Command, UsageError, did_you_mean, help_text, parse
from aispend.bot.data import GovernanceSource, LedgerData, ShadowSource
from aispend.bot.permissions import Permissions
from aispend.bot.render import (
    money,
    render_breakdown,
    render_colours,
    render_text_reply,
    render_top,
    render_workflow,
)
from aispend.bot.views import coloured
from aispend.core.estimate import Estimator, ModelEstimate
from aispend.core.ledger.db import session_scope
from aispend.core.pricing import CUSTOM_PRICES, PriceError
from aispend.core.rules.estimate import EstimateInput

NOT_WIRED = "`{what}` is not available in this installation yet (the governance module is not configured)."


@dataclass(frozen=True)
class Reply:
    message: Message
    share: bool = False


@dataclass
class CommandContext:
    engine: Engine
    ledger: LedgerData
    governance: GovernanceSource | None
    permissions: Permissions
    shadow: ShadowSource | None = None
    sync: Callable[[datetime], str] | None = None  # syncs every source, returns a one-line-per-source summary
    # The one estimator `aispend estimate` uses too (default: genai-prices only, figures in USD).
    estimator: Callable[[EstimateInput, str, datetime], ModelEstimate] = field(default_factory=Estimator)


def run_command(ctx: CommandContext, text: str, user_id: str, now: datetime) -> Reply:
    parsed = parse(text)
    if isinstance(parsed, UsageError):
        return Reply(render_text_reply(_usage(parsed)))
    handler = _HANDLERS[parsed.name]
    message = handler(ctx, parsed, user_id, now)
    return Reply(message, share=parsed.share)


def _usage(error: UsageError) -> str:
    # Usage strings contain no user text except what _quote put in backticks; escape all the same.
    return escape(error.message())


def _help(ctx: CommandContext, cmd: Command, user: str, now: datetime) -> Message:
    return render_text_reply(escape(help_text()))


def _int(value: object) -> int:
    assert isinstance(value, int), value
    return value


def _top(ctx: CommandContext, cmd: Command, user: str, now: datetime) -> Message:
    limit = _int(cmd.args["limit"])
    report = ctx.ledger.top(str(cmd.args["period"]), now)
    if ctx.governance:  # the digest's colour rule: a workflow's threshold or share level, else green
        report = coloured(report, ctx.governance.colours(now))
    return render_top(report, limit)


def _not_found(kind: str, name: str, known: list[str], command: str | None = None) -> Message:
    guess = did_you_mean(name, known)
    hint = f" Did you mean `{escape(guess)}`?" if guess else ""
    usage = USAGE[command or kind]
    return render_text_reply(f"No {kind} named `{escape(name)}`.{hint}\nUsage: `{escape(usage)}`")


def _workflow(ctx: CommandContext, cmd: Command, user: str, now: datetime) -> Message:
    name = str(cmd.args["name"])
    detail = ctx.ledger.workflow(name, now)
    if detail is None:
        return _not_found("workflow", name, ctx.ledger.workflow_names())
    if ctx.governance is not None:
        colour = next((c for c in ctx.governance.colours(now) if c.scope_kind == "workflow" and c.scope == name), None)
        detail = dataclasses.replace(detail, thresholds=colour)
    return render_workflow(detail)


def _breakdown(ctx: CommandContext, cmd: Command, user: str, now: datetime) -> Message:
    name = str(cmd.args["name"])
    detail = ctx.ledger.breakdown(cmd.name, name, now)
    if detail is None:
        return _not_found(cmd.name, name, ctx.ledger.names(cmd.name))
    return render_breakdown(detail)


def _status(ctx: CommandContext, cmd: Command, user: str, now: datetime) -> Message:
    if ctx.governance is None:
        return render_text_reply(NOT_WIRED.format(what="status"))
    return render_colours(ctx.governance.colours(now), "Budget status")


def _forecast(ctx: CommandContext, cmd: Command, user: str, now: datetime) -> Message:
    if ctx.governance is None:
        return render_text_reply(NOT_WIRED.format(what="forecast"))
    budget = ctx.governance.budget(now)
    if budget is None:
        return render_text_reply("No AI spend is recorded this period, so there is nothing to forecast.")
    line = f"*This period:* {money(budget.total)} spent · forecast {money(budget.forecast)}"
    if budget.budget is None:
        return render_text_reply(f"{line} · no company budget is set (`/aispend thresholds set company red=AMOUNT`)")
    return render_text_reply(f"{line} · budget {money(budget.budget)}")


def _changes(ctx: CommandContext, cmd: Command, user: str, now: datetime) -> Message:
    if ctx.governance is None:
        return render_text_reply(NOT_WIRED.format(what="changes"))
    lines = [f"• {escape(c.scope)}: {money(c.delta)} — {escape(c.reason)}" for c in ctx.governance.changes(now)]
    return render_text_reply(clip_lines(["*What changed and why*", *lines], 3000) if lines else "Nothing moved.")


def _shadow(ctx: CommandContext, cmd: Command, user: str, now: datetime) -> Message:
    if ctx.shadow is None:
        return render_text_reply(NOT_WIRED.format(what="shadow").replace("governance", "shadow-AI"))
    month = cmd.args.get("month")
    findings = ctx.shadow.findings(
        date.fromisoformat(f"{month}-01") if month else None,
        finance=ctx.permissions.is_finance_admin(user),
        now=now,
    )
    lines = [
        f"• {escape(f.vendor)}: {escape(f.detail)}" + (f" ({money(f.spend)})" if f.spend else "") for f in findings
    ]
    title = f"*Shadow-AI findings, {month}*" if month else "*Shadow-AI findings, last month*"
    return render_text_reply(clip_lines([title, *lines], 3000) if lines else "No shadow-AI findings.")


def _thresholds(ctx: CommandContext, cmd: Command, user: str, now: datetime) -> Message:
    if ctx.governance is None:
        return render_text_reply(NOT_WIRED.format(what="thresholds"))
    if cmd.args["action"] == "show":
        return render_colours(ctx.governance.colours(now), "Thresholds")
    if not ctx.permissions.is_finance_admin(user):
        return render_text_reply("Only finance admins can change thresholds. Nothing was changed.")
    kind, scope = str(cmd.args["scope_kind"]), str(cmd.args["scope"])
    yellow = cmd.args.get("yellow")
    red = cmd.args.get("red")
    target = f"{kind}:{scope}" if scope else kind
    with session_scope(ctx.engine) as session:
        try:
            # Both audits in one transaction: the governance one (thresholds history, actor slack:U...)
            # with the change, and the Slack one (every change made from Slack) below.
            before, after = ctx.governance.set_threshold(
                session,
                kind,
                scope,
                yellow if isinstance(yellow, Decimal) else None,
                red if isinstance(red, Decimal) else None,
                actor=f"slack:{user}",
                now=now,
            )
        except ValueError as exc:
            session.rollback()
            return render_text_reply(
                f"{escape(str(exc))}. Nothing was changed.\nUsage: `{escape(USAGE['thresholds'])}`"
            )
        audit.record(session, at=now, user_id=user, action="thresholds.set", target=target, before=before, after=after)
    return render_text_reply(f"Thresholds of `{escape(target)}` set: {escape(_levels(after))}.")


def _levels(values: dict[str, object]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items() if k in ("yellow", "red", "currency"))


def _owner(ctx: CommandContext, cmd: Command, user: str, now: datetime) -> Message:
    workflow, new_owner = str(cmd.args["workflow"]), str(cmd.args["user"])
    refused = _refuse_change(ctx, workflow, user, "owner")
    if refused is not None:
        return refused
    with session_scope(ctx.engine) as session:
        before, after = ctx.ledger.set_owner(session, workflow, new_owner, now)
        audit.record(
            session,
            at=now,
            user_id=user,
            action="workflow.owner",
            target=f"workflow:{workflow}",
            before={"owner": before},
            after={"owner": after},
        )
    return render_text_reply(f"Owner of `{escape(workflow)}` is now {mention(new_owner)}.")


def _refuse_change(ctx: CommandContext, workflow: str, user: str, what: str) -> Message | None:
    """Why `user` may not change a workflow's `what` (owner, outcome), or None: the workflow must be
    known, and only finance admins (and admins) or its current owner may change it."""
    known = ctx.ledger.workflow_names()
    if workflow not in known:
        return _not_found("workflow", workflow, known, what)
    current = ctx.ledger.owner_of(workflow) or ""
    if ctx.permissions.is_finance_admin(user) or (bool(current) and current == user):
        return None
    return render_text_reply(
        f"Only finance admins or the workflow's current owner can change its {what}. Nothing was changed."
    )


def _outcome(ctx: CommandContext, cmd: Command, user: str, now: datetime) -> Message:
    workflow = str(cmd.args["workflow"])
    unit, display_name = cmd.args.get("unit"), cmd.args.get("display_name")
    refused = _refuse_change(ctx, workflow, user, "outcome")
    if refused is not None:
        return refused
    with session_scope(ctx.engine) as session:
        try:
            before, after = ctx.ledger.set_outcome(
                session,
                workflow,
                unit=unit if isinstance(unit, str) else None,
                display_name=display_name if isinstance(display_name, str) else None,
                now=now,
            )
        except ValueError as exc:
            session.rollback()
            problem = str(exc)
            return render_text_reply(
                f"{escape(problem[:1].upper() + problem[1:])}. Nothing was changed.\n"
                f"Usage: `{escape(USAGE['outcome'])}`"
            )
        audit.record(
            session,
            at=now,
            user_id=user,
            action="workflow.outcome",
            target=f"workflow:{workflow}",
            before=before,
            after=after,
        )
    unit_name = after["outcome_unit"] or "outcome"
    lines = [
        f"Outcome of `{escape(workflow)}`: one *{escape(unit_name)}*"
        + (f", shown as *{escape(after['display_name'])}*." if after["display_name"] else ".")
    ]
    detail = ctx.ledger.workflow(workflow, now)
    if detail is not None and detail.cost_per_outcome is not None:
        lines.append(
            f"Cost per {escape(unit_name)} this month: {money(detail.cost_per_outcome)} ({detail.outcomes} outcomes)."
        )
    else:
        lines.append(
            "No outcome is counted this month yet: a run counts when its calls' `outcome` is set and is not"
            " a failure (or a daily count is recorded)."
        )
    return render_text_reply("\n".join(lines))


def _estimate(ctx: CommandContext, cmd: Command, user: str, now: datetime) -> Message:
    model = str(cmd.args["model"])
    default = EstimateInput(1, Decimal(1), 1)
    spec = EstimateInput(  # the parser's bounds are within the formula's
        _int(cmd.args["dau"]),
        _decimal(cmd.args["actions"]),
        _int(cmd.args["tokens"]),
        output_share=_decimal(cmd.args.get("output", default.output_share)),
        agentic_multiplier=_decimal(cmd.args.get("multiplier", default.agentic_multiplier)),
    )
    try:
        result = ctx.estimator(spec, model, now)
    except PriceError:
        return render_text_reply("The company's prices file (AISPEND_PRICES_FILE) is not valid; ask an admin.")
    except LookupError:
        return render_text_reply(
            f"No price is known for model `{escape(model)}`.\nUsage: `{escape(USAGE['estimate'])}`"
        )
    return render_text_reply(_estimate_text(result))


def _estimate_text(result: ModelEstimate) -> str:
    spec, price = result.spec, result.price
    multiplier = spec.agentic_multiplier
    calls = f" × {_number(multiplier)} calls per action" if multiplier != 1 else ""
    unit = "call" if multiplier != 1 else "action"
    output = spec.tokens_per_action * spec.output_share
    source = "the company's own prices" if price.source == CUSTOM_PRICES else "today's list prices"
    lines = [
        f"*Estimated monthly cost:* {money(result.monthly)} ({escape(price.provider)} {escape(price.model)})",
        f"{spec.dau:,} daily users × {_number(spec.actions_per_user)} actions{calls} × {spec.days} days"
        f" at {money(result.per_call)} per {unit} ({_number(spec.tokens_per_action - output)} input"
        f" + {_number(output)} output tokens, {source}).",
    ]
    if result.rate is not None:
        lines.append(
            f"Converted from {price.currency} prices at {result.rate} {result.monthly.currency} per {price.currency}."
        )
    if result.note:
        lines.append(f"The figure is {escape(result.note)}.")
    return "\n".join(lines)


def _decimal(value: object) -> Decimal:
    assert isinstance(value, int | Decimal), value
    return Decimal(value)


def _number(value: int | Decimal) -> str:
    """1,000 / 0.5 / 2.25: grouped, no exponent, no trailing zeros."""
    return f"{Decimal(value).normalize():,f}"


def _sync(ctx: CommandContext, cmd: Command, user: str, now: datetime) -> Message:
    if not ctx.permissions.is_admin(user):
        return render_text_reply("Only admins can start a sync.")
    if ctx.sync is None:
        return render_text_reply("No source is configured to sync.")
    summary = ctx.sync(now)
    with session_scope(ctx.engine) as session:
        audit.record(
            session,
            at=now,
            user_id=user,
            action="sync",
            target="sources",
            before=None,
            after={"summary": summary[:500]},
        )
    return render_text_reply(escape(summary))


_HANDLERS = {
    "help": _help,
    "top": _top,
    "workflow": _workflow,
    "team": _breakdown,
    "model": _breakdown,
    "status": _status,
    "forecast": _forecast,
    "changes": _changes,
    "shadow": _shadow,
    "thresholds": _thresholds,
    "owner": _owner,
    "outcome": _outcome,
    "estimate": _estimate,
    "sync": _sync,
}
