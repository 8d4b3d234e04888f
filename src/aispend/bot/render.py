"""Pure renderers: domain data (bot/views.py) -> Message(text, blocks). No I/O, no clock.

Every public renderer returns `check_limits(...)`, so a message that would break a Block Kit limit
never leaves this module.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from aispend.bot.blocks import (
    MAX_HOME_BLOCKS,
    MAX_SECTION_TEXT,
    MAX_TOTAL_BLOCK_TEXT,
    Block,
    Message,
    button,
    check_limits,
    clip,
    clip_lines,
    context,
    divider,
    escape,
    header,
    mention,
    section,
)
from aispend.bot.views import (
    GREEN,
    RECOVERED,
    RED,
    YELLOW,
    AlertData,
    AlertState,
    BreakdownDetail,
    DigestData,
    HomeData,
    Period,
    ScopeColour,
    SourceFreshness,
    TopReport,
    WorkflowDetail,
    WorkflowRow,
)
from aispend.core.money import Money, format_money

DIGEST_TOP = 5
MAX_NAME = 120  # characters of a workflow label shown in a list
COLOUR_EMOJI = {GREEN: ":large_green_circle:", YELLOW: ":large_yellow_circle:", RED: ":red_circle:"}
COLOUR_WORD = {GREEN: "green", YELLOW: "yellow", RED: "red"}

# action_ids of the alert buttons (the listeners in bot/app.py match these).
ACTION_ACK = "alert_ack"
ACTION_SNOOZE = "alert_snooze"
ACTION_ASSIGN = "alert_assign"
ACTION_EXPLAIN = "alert_explain"


# --- small formatters -----------------------------------------------------------------------------------


def money(value: Money | None) -> str:
    return "n/a" if value is None else format_money(value.amount, value.currency)


def pct(value: Decimal | None, *, signed: bool = True) -> str:
    if value is None:
        return "new"
    sign = "+" if signed and value > 0 else ""
    return f"{sign}{value}%"


def period_label(period: Period) -> str:
    end = period.end - timedelta(days=1)
    partial = "" if period.complete else " (so far)"
    if period.kind == "month":
        return f"{period.start:%B %Y}{partial}"
    return f"week of {period.start.isoformat()} to {end.isoformat()}{partial}"


def colour_mark(colour: str) -> str:
    return COLOUR_EMOJI.get(colour, ":white_circle:")


def scope_label(kind: str, scope: str) -> str:
    """`company`, or `team *platform*`: the company scope has no name to put in bold."""
    if kind == "company" or not scope:
        return escape(kind)
    return f"{escape(kind)} *{escape(scope)}*"


def totals_text(totals: list[Money]) -> str:
    return " + ".join(money(t) for t in totals) if totals else "none recorded"


def _name(row: WorkflowRow) -> str:
    """A workflow's label, escaped and cut to a readable length."""
    return clip(escape(row.label or row.key), MAX_NAME)


def _row_line(row: WorkflowRow, *, detailed: bool) -> str:
    line = (
        f"{colour_mark(row.colour)} *{row.rank}. {_name(row)}* {money(row.cost)}"
        f"  ({pct(row.change_pct)} vs previous"
        + (f", {row.share_pct}% of total" if row.share_pct is not None else "")
        + ")"
    )
    if not detailed:
        return line
    extras = []
    if row.cost_per_run is not None:
        extras.append(f"{money(row.cost_per_run)} per run")
    if row.cost_per_outcome is not None:
        extras.append(f"{money(row.cost_per_outcome)} per {escape(row.outcome_unit or 'outcome')}")
    extras.append(f"owner {mention(row.owner)}")
    if row.unpriced_calls:
        extras.append(f"{row.unpriced_calls} unpriced calls")
    return line + "\n      " + " · ".join(extras)


def _plain(row: WorkflowRow) -> str:
    return f"{row.rank}. {_name(row)}: {money(row.cost)} ({pct(row.change_pct)})"


def _chunked_sections(lines: list[str], max_sections: int, budget: int = MAX_TOTAL_BLOCK_TEXT - 1500) -> list[Block]:
    """Lines packed into as few sections as fit, at most `max_sections` sections and `budget`
    characters in all (Slack refuses a message past its total), the lines left out counted."""
    blocks: list[Block] = []
    current: list[str] = []
    size = used = 0
    for index, line in enumerate(lines):
        line = clip(line, MAX_SECTION_TEXT - 40)
        more = f"…and {len(lines) - index} more"
        if used + size + len(line) + 1 > budget - len(more) - 1:
            current.append(more)
            break
        if current and size + len(line) + 1 > MAX_SECTION_TEXT - 40:
            if len(blocks) == max_sections - 1:
                current.append(more)
                break
            blocks.append(section("\n".join(current)))
            used += size
            current, size = [], 0
        current.append(line)
        size += len(line) + 1
    if current:
        blocks.append(section("\n".join(current)))
    return blocks


def _source_lines(sources: list[SourceFreshness]) -> list[str]:
    lines = []
    for s in sources:
        when = s.freshest_data_at.strftime("%Y-%m-%d %H:%M UTC") if s.freshest_data_at else "never"
        mark = ":warning:" if s.stale or s.last_error else ":white_check_mark:"
        line = f"{mark} {escape(s.source)}: data to {when}"
        if s.last_error:
            line += f" — last error: {escape(clip(s.last_error, 200))}"
        lines.append(line)
    return lines


# --- weekly digest --------------------------------------------------------------------------------------


def render_digest(data: DigestData) -> Message:
    top = data.top
    shown = top.rows[:DIGEST_TOP]
    title = f"AI spend: top {DIGEST_TOP} workflows, {period_label(top.period)}"
    blocks: list[Block] = [header(title)]
    text_lines = [escape(title), f"Total AI spend: {totals_text(top.totals)}"]

    summary = f"*Total AI spend:* {totals_text(top.totals)}"
    if data.budget is not None:
        if data.budget.budget is not None:
            summary += f"  ·  *budget* {money(data.budget.budget)}"
        if data.budget.forecast is not None:
            summary += f"  ·  *forecast* {money(data.budget.forecast)}"
    if len(top.rows) > len(shown):
        summary += f"\n{len(top.rows)} workflows with spend; the top {len(shown)} are below."
    blocks.append(section(summary))
    blocks.append(divider())

    if not shown:
        blocks.append(section("_No AI spend was recorded in this period._"))
        text_lines.append("No AI spend was recorded in this period.")
    for row in shown:
        blocks.append(section(_row_line(row, detailed=True)))
        text_lines.append(_plain(row))

    if data.changes:
        lines = [f"• {escape(c.scope)}: {money(c.delta)} — {escape(c.reason)}" for c in data.changes]
        blocks.append(section(clip_lines(["*What changed and why*", *lines], MAX_SECTION_TEXT)))
    if data.shadow:
        lines = [
            f"• {escape(f.vendor)}: {escape(f.detail)}" + (f" ({money(f.spend)})" if f.spend else "")
            for f in data.shadow
        ]
        blocks.append(section(clip_lines(["*New shadow-AI findings this month*", *lines], MAX_SECTION_TEXT)))
    problems = [s for s in data.sources if s.stale or s.last_error]
    if problems or data.reconciliation_drift:
        lines = _source_lines(problems) + [f":warning: {escape(d)}" for d in data.reconciliation_drift]
        blocks.append(section(clip_lines(["*Stale or failing sources, reconciliation drift*", *lines], 3000)))
    notes = [figures_note(top.basis, top.notes)]
    if top.unpriced_calls:
        notes.append(f"{top.unpriced_calls} calls had no known price and are not counted in the totals.")
    if not top.period.complete:
        notes.append("The period is not complete yet; numbers will still move.")
    blocks.append(context(clip(" ".join(notes), MAX_SECTION_TEXT)))
    return check_limits(Message(text="\n".join(text_lines), blocks=blocks))


def chart_title(data: DigestData) -> str:
    last_day = data.top.period.end - timedelta(days=1)
    return f"AI spend per day, four weeks to {last_day.isoformat()} ({data.key})"


# --- alerts ---------------------------------------------------------------------------------------------


RULE_LABELS = {
    "share": "share of AI spend",
    "new_entrant": "new in the top 5",
    "change_wow": "week-over-week change",
    "change_mom": "month-over-month change",
    "run_cap": "runs over the cost cap",
    "token_budget": "calls over the token budget",
    "escalation_gate": "escalation gate skipped",
    "dq_unpriced": "unpriced calls",
    "dq_zero_cost": "calls with zero cost",
    "dq_unattributed_workflow": "spend without a workflow",
    "dq_unattributed_team": "spend without a team",
    "dq_stale_source": "stale source",
    "dq_reconciliation": "bill vs logs drift",
    "dq_unconverted": "amounts without an exchange rate",
    "unit_economics": "unit economics",
    "currency": "mixed currencies",
}


def _by_summary(alert: AlertData) -> bool:
    """Alerts of rules other than a money threshold are described by the rule's own summary."""
    return alert.threshold is None and bool(alert.summary)


def _alert_title(alert: AlertData) -> str:
    scope = f"{alert.scope_kind} {alert.scope}".strip()
    if _by_summary(alert):
        what = RULE_LABELS.get(alert.rule, alert.rule.replace("_", " "))
        if alert.level == RECOVERED:
            return f"Recovered: {scope}, {what}"
        word = {RED: "Red", YELLOW: "Yellow"}.get(alert.level, alert.level.capitalize())
        return f"{word} alert: {scope}, {what}"
    if alert.level == RECOVERED:
        return f"Recovered: {scope} is back under its threshold"
    word = "Red" if alert.level == RED else "Yellow"
    if alert.basis == "forecast":
        return f"{word} alert (forecast): {scope} on course to pass its {alert.period.kind}ly threshold"
    return f"{word} alert: {scope} over its {alert.period.kind}ly threshold"


def render_alert(alert: AlertData, state: AlertState) -> Message:
    """The alert message; rendered again (and chat.update-d) on every level or state change."""
    mark = ":white_check_mark:" if alert.level == RECOVERED else colour_mark(alert.level)
    title = _alert_title(alert)
    owner = state.owner or alert.owner
    if _by_summary(alert):
        body = f"{mark} *{escape(title)}*\n{clip(escape(alert.summary), MAX_SECTION_TEXT - 500)}"
    else:
        body = (
            f"{mark} *{escape(title)}*\n"
            f"Spent *{money(alert.spent)}* of a {money(alert.threshold)} threshold, {period_label(alert.period)}."
        )
    if alert.basis == "forecast" and not _by_summary(alert):
        body += " It has not passed the threshold yet: the forecast has."
    if alert.forecast is not None:
        spread = (
            f" (range {money(alert.forecast_low)}–{money(alert.forecast_high)})"
            if alert.forecast_low is not None and alert.forecast_high is not None
            else ""
        )
        body += f"\nForecast for the {escape(alert.period.kind)}: {money(alert.forecast)}{spread}."
    body += f"\nOwner: {mention(owner)}"
    blocks: list[Block] = [section(body)]
    status = _state_line(state)
    if status:
        blocks.append(context(status))
    if alert.level != RECOVERED:
        value = clip(alert.key, 2000)
        blocks.append(
            {
                "type": "actions",
                "block_id": f"alert|{alert.key}"[:255],
                "elements": [
                    button("Acknowledge", ACTION_ACK, value, style="primary"),
                    button("Snooze 24 h", ACTION_SNOOZE, value),
                    {
                        "type": "users_select",
                        "action_id": ACTION_ASSIGN,
                        "placeholder": {"type": "plain_text", "text": "Assign owner"},
                    },
                    button("Explain", ACTION_EXPLAIN, value),
                ],
            }
        )
    detail = escape(alert.summary) if _by_summary(alert) else f"spent {money(alert.spent)} of {money(alert.threshold)}"
    text = clip(f"{escape(title)}: {detail}. Owner: {mention(owner)}", MAX_SECTION_TEXT)
    return check_limits(Message(text=text, blocks=blocks))


def _state_line(state: AlertState) -> str:
    if state.state == "acknowledged" and state.acknowledged_by:
        return f"Acknowledged by {mention(state.acknowledged_by)}"
    if state.state == "snoozed" and state.snoozed_until:
        return f"Snoozed until {state.snoozed_until:%Y-%m-%d %H:%M} UTC"
    return ""


def render_alert_thread_line(alert: AlertData, previous_level: str) -> Message:
    """The line added in the alert's thread when its level changes or it recovers."""
    if _by_summary(alert):
        if alert.level == RECOVERED:
            text = f":white_check_mark: Recovered: {escape(alert.summary)}"
        else:
            text = (
                f"{colour_mark(alert.level)} Level changed from {escape(previous_level)}"
                f" to {escape(alert.level)}: {escape(alert.summary)}"
            )
        text = clip(text, MAX_SECTION_TEXT)
    elif alert.level == RECOVERED:
        text = f":white_check_mark: Recovered: spend {money(alert.spent)} is back under the thresholds."
    else:
        text = (
            f"{colour_mark(alert.level)} Level changed from {escape(previous_level)}"
            f" to {escape(alert.level)}: "
            f"spent {money(alert.spent)} of {money(alert.threshold)}."
        )
    return check_limits(Message(text=text, blocks=[section(text)]))


def render_action_line(text: str) -> Message:
    """A thread line for something a person did (acknowledged, snoozed, assigned)."""
    return check_limits(Message(text=text, blocks=[section(text)]))


def render_explain(alert: AlertData) -> Message:
    if not alert.explanation:
        text = "No change decomposition is available for this alert."
        return check_limits(Message(text=text, blocks=[section(text)]))
    lines = [f"• {escape(c.scope)}: {money(c.delta)} — {escape(c.reason)}" for c in alert.explanation]
    body = clip_lines([f"*Why {escape(alert.scope)} moved*", *lines], MAX_SECTION_TEXT)
    return check_limits(Message(text=f"Why {escape(alert.scope)} moved: {len(lines)} changes", blocks=[section(body)]))


# --- command replies ------------------------------------------------------------------------------------


def render_text_reply(mrkdwn: str) -> Message:
    """A short reply (usage errors, confirmations); the caller escapes user text."""
    return check_limits(Message(text=mrkdwn, blocks=[section(mrkdwn)]))


def render_top(report: TopReport, limit: int) -> Message:
    rows = report.rows[:limit]
    title = f"Top {limit} workflows, {period_label(report.period)}"
    blocks: list[Block] = [header(title), section(f"*Total AI spend:* {totals_text(report.totals)}")]
    if not rows:
        blocks.append(section("_No AI spend was recorded in this period._"))
    blocks.extend(_chunked_sections([_row_line(r, detailed=True) for r in rows], max_sections=40))
    if rows:
        blocks.append(context(compared_note(report.compared)))
    blocks.append(context(figures_note(report.basis, report.notes)))
    text = "\n".join([escape(title), *(_plain(r) for r in rows)]) if rows else f"{escape(title)}: no spend."
    return check_limits(Message(text=text, blocks=blocks))


def figures_note(basis: str, notes: list[str]) -> str:
    """Which bill figure the amounts are (AISPEND_COST_BASIS) and what a reader must know about them
    (currencies converted in, amounts left out for want of a rate)."""
    return clip(" ".join([f"Spend basis: {escape(basis)} cost.", *(escape(n) for n in notes)]), MAX_SECTION_TEXT)


def compared_note(compared: str) -> str:
    if not compared:
        return "No comparison yet: the period has no complete day."
    return f"vs previous: {escape(compared)} (complete days, the same weekdays)"


def render_workflow(detail: WorkflowDetail) -> Message:
    title = f"{detail.label or detail.key}, {period_label(detail.period)}"
    fields = [
        f"*Cost*\n{money(detail.cost)} ({pct(detail.change_pct)} vs previous)",
        f"*Runs / calls*\n{detail.runs} / {detail.calls}",
        f"*Cost per run*\n{money(detail.cost_per_run)}",
        f"*Cost per {escape(detail.outcome_unit or 'outcome')}*\n{money(detail.cost_per_outcome)}"
        + f" ({detail.outcomes} outcomes)",
        f"*Owner*\n{mention(detail.owner)}",
        f"*Team*\n{escape(detail.team) or '_none_'}",
    ]
    if detail.thresholds is not None:
        t = detail.thresholds
        fields.append(f"*Thresholds*\n{colour_mark(t.colour)} yellow {money(t.yellow)} · red {money(t.red)}")
    blocks: list[Block] = [header(title), section(f"`{escape(detail.key)}`", fields=fields)]
    models = [f"• {escape(m)}: {money(c)}" for m, c in detail.models]
    if models:
        blocks.append(section(clip_lines(["*Models*", *models], MAX_SECTION_TEXT)))
    if detail.unpriced_calls:
        blocks.append(context(f"{detail.unpriced_calls} calls had no known price and are not counted."))
    blocks.append(context(figures_note(detail.basis, detail.notes)))
    text = f"{escape(title)}: {money(detail.cost)} ({pct(detail.change_pct)}), owner {mention(detail.owner)}"
    return check_limits(Message(text=text, blocks=blocks))


def render_breakdown(detail: BreakdownDetail) -> Message:
    title = f"{detail.kind.capitalize()} {detail.name}, {period_label(detail.period)}"
    lines = [f"• {escape(w or '(unattributed)')}: {money(c)}" for w, c in detail.by_workflow]
    blocks: list[Block] = [
        header(title),
        section(f"*Cost:* {money(detail.cost)} ({pct(detail.change_pct)} vs previous) · {detail.calls} calls"),
    ]
    if lines:
        blocks.append(section(clip_lines(["*By workflow*", *lines], MAX_SECTION_TEXT)))
    blocks.append(context(figures_note(detail.basis, detail.notes)))
    return check_limits(Message(text=f"{escape(title)}: {money(detail.cost)}", blocks=blocks))


def render_colours(colours: list[ScopeColour], title: str) -> Message:
    lines = [
        f"{colour_mark(c.colour)} {scope_label(c.scope_kind, c.scope)}: {money(c.spent)}"
        f" (yellow {money(c.yellow)}, red {money(c.red)})"
        for c in colours
    ]
    blocks: list[Block] = [header(title)]
    if not lines:
        blocks.append(section("_No thresholds are configured._"))
    blocks.extend(_chunked_sections(lines, max_sections=30))
    text = f"{escape(title)}: {len(colours)} scopes"
    return check_limits(Message(text=text, blocks=blocks))


# --- App Home -------------------------------------------------------------------------------------------


def render_home(data: HomeData) -> dict[str, object]:
    """The App Home view (views.publish): this month's colours, top 5, source freshness."""
    blocks: list[Block] = [header(f"AI spend, {period_label(data.month)}")]
    colour_lines = [
        f"{colour_mark(c.colour)} {scope_label(c.scope_kind, c.scope)}: {money(c.spent)}" for c in data.colours
    ]
    blocks.append(
        section(
            clip_lines(["*Budget colours*", *colour_lines], MAX_SECTION_TEXT)
            if colour_lines
            else "*Budget colours*\n_No thresholds are configured._"
        )
    )
    blocks.append(divider())
    rows = data.top.rows[:DIGEST_TOP]
    top_lines = [_row_line(r, detailed=False) for r in rows] or ["_No AI spend yet this month._"]
    blocks.append(section(clip_lines([f"*Top {DIGEST_TOP} workflows*", *top_lines], MAX_SECTION_TEXT)))
    blocks.append(context(figures_note(data.top.basis, data.top.notes)))
    blocks.append(divider())
    source_lines = _source_lines(data.sources) or ["_No source has synced yet._"]
    blocks.append(section(clip_lines(["*Sources*", *source_lines], MAX_SECTION_TEXT)))
    check_limits(Message(text="App Home", blocks=blocks), max_blocks=MAX_HOME_BLOCKS)
    return {"type": "home", "blocks": blocks}
