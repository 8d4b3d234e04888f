"""Governance commands: `aispend evaluate`, `aispend thresholds ...`, `aispend workflows ...`,
`aispend alerts ...`, and `aispend report status|changes|agents`."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from aispend.cli.runtime import Runtime, runtime
from aispend.core.estimate import ModelEstimate, estimate
from aispend.core.governance import reports, store
from aispend.core.governance.config import GovernanceConfig
from aispend.core.governance.review import model_review
from aispend.core.ledger.db import session_scope
from aispend.core.money import MoneyError, decimal_str, format_money, money_json, normalize_currency, parse_decimal
from aispend.core.pricing import PriceError, price_book
from aispend.core.rules.estimate import EstimateInput
from aispend.core.rules.findings import SCOPE_KINDS, Finding, Scope
from aispend.core.rules.periods import parse_period_kind
from aispend.core.rules.thresholds import Threshold, levels_from_budget
from aispend.core.timeutil import as_utc

console = Console()
err = Console(stderr=True)

thresholds_app = typer.Typer(
    help="Budget thresholds per scope and period (yellow and red, in money).", no_args_is_help=True
)
workflows_app = typer.Typer(
    help="Workflows: owners, per-run cost caps and per-call token budgets.", no_args_is_help=True
)
alerts_app = typer.Typer(help="Alert states: list, acknowledge, snooze.", no_args_is_help=True)

AT_HELP = "Evaluate as of this UTC time (ISO datetime, or a date meaning the end of that day); default now."


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]error[/red]: {message}")
    return typer.Exit(2)


def parse_at(text: str | None, rt: Runtime) -> datetime:
    if not text:
        return as_utc(rt.clock())
    value = text.strip()
    try:
        if len(value) == 10:
            day = datetime.fromisoformat(value).date()
            return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)
        return as_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        raise _fail(f"--at must be an ISO date or datetime, got {text!r}") from None


def parse_scope(text: str) -> Scope:
    """`company`, or `kind:key` with kind one of team, workflow, provider, model."""
    if text.strip() == "company":
        return Scope("company")
    kind, sep, key = text.partition(":")
    if not sep or kind not in SCOPE_KINDS or kind == "company" or not key.strip():
        raise _fail(f"scope must be company or one of team:KEY, workflow:KEY, provider:KEY, model:KEY; got {text!r}")
    return Scope(kind, key.strip())


def _config(rt: Runtime) -> GovernanceConfig:
    try:
        return GovernanceConfig.from_settings(rt.settings)
    except ValueError as exc:
        raise _fail(str(exc)) from None


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=False))


_COLORS = {"red": "red", "yellow": "yellow", "ok": "green", "no-data": "dim", "info": "cyan"}


def _findings_table(title: str, findings: list[Finding]) -> None:
    table = Table(title=title)
    for col in ("level", "rule", "scope", "period", "finding"):
        table.add_column(col, overflow="fold")
    for f in findings:
        color = _COLORS.get(f.level.value, "white")
        level = f"[{color}]{f.level.value}{' (forecast)' if f.basis == 'forecast' else ''}[/{color}]"
        table.add_row(level, f.rule, f.scope.label, f.period, f.summary)
    console.print(table)


# ---- evaluate -------------------------------------------------------------------------------


def evaluate_cmd(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON (new notifications under new_notifications)."),
    at: str | None = typer.Option(None, "--at", help=AT_HELP),
    deliver: bool = typer.Option(
        True,
        "--deliver/--no-deliver",
        help="Then send pending notifications to Slack (or print them when SLACK_BOT_TOKEN is not set).",
    ),
) -> None:
    """Evaluate every rule now, advance alert states, record notifications (idempotent), deliver them."""
    rt = runtime(ctx)
    now = parse_at(at, rt)
    from aispend.app import evaluate_and_deliver

    # With --json, stdout is the JSON: the terminal rendering of the messages goes to stderr.
    stream = sys.stderr if as_json else sys.stdout
    done = evaluate_and_deliver(rt.engine(), rt.settings, now, config=_config(rt), stream=stream, deliver=deliver)
    result, delivered = done.result, done.delivered
    set_aside: list[dict[str, Any]] = []
    if delivered is not None:
        err.print(delivered.summary, markup=False, soft_wrap=True)
        for failed in delivered.set_aside:  # reported once: it is marked failed and never retried
            err.print(f"[red]{escape(failed.line)}[/red]", soft_wrap=True)
        set_aside = [failed.as_json() for failed in delivered.set_aside]
    if as_json:
        _print_json(
            {
                "at": result.at.isoformat(),
                "new_notifications": [store.notification_json(n) for n in result.new_notifications],
                "findings": [f.as_json() for f in result.findings],
                "errors": result.errors,
                "set_aside": set_aside,
            }
        )
        return
    alerting = [f for f in result.findings if f.level.value in ("yellow", "red")]
    _findings_table(f"Open alerts at {now:%Y-%m-%d %H:%M} UTC", alerting)
    for error in result.errors:
        err.print(f"[red]refused[/red]: {error}")
    typer.echo(f"{len(result.new_notifications)} new notification(s)")
    for note in result.new_notifications:
        typer.echo(f"  {note.title}")


# ---- reports ---------------------------------------------------------------------------------


def _report(name: str, build: Callable[[Runtime, datetime], list[Finding]], title: str) -> Callable[..., None]:
    def command(
        ctx: typer.Context,
        as_json: bool = typer.Option(False, "--json", help="Print stable JSON."),
        at: str | None = typer.Option(None, "--at", help=AT_HELP),
    ) -> None:
        rt = runtime(ctx)
        now = parse_at(at, rt)
        findings = build(rt, now)
        if as_json:
            _print_json({"report": name, "at": now.isoformat(), "findings": [f.as_json() for f in findings]})
        else:
            _findings_table(title, findings)

    return command


def _status(rt: Runtime, now: datetime) -> list[Finding]:
    with session_scope(rt.engine()) as session:
        return reports.status(session, now=now, config=_config(rt))


def _agents(rt: Runtime, now: datetime) -> list[Finding]:
    with session_scope(rt.engine()) as session:
        return reports.agents(session, now=now, config=_config(rt))


def changes_cmd(
    ctx: typer.Context,
    period: str = typer.Option("week", "--period", help="week (WoW) or month (MoM)."),
    as_json: bool = typer.Option(False, "--json", help="Print stable JSON."),
    at: str | None = typer.Option(None, "--at", help=AT_HELP),
) -> None:
    """Week-over-week or month-over-month change per scope, explained (volume, mix, cache, price)."""
    rt = runtime(ctx)
    now = parse_at(at, rt)
    try:
        kind = parse_period_kind(period)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    with session_scope(rt.engine()) as session:
        findings = reports.changes(session, now=now, config=_config(rt), period_kind=kind)
    if as_json:
        _print_json({"report": "changes", "at": now.isoformat(), "findings": [f.as_json() for f in findings]})
    else:
        _findings_table(f"Changes ({'WoW' if kind == 'week' else 'MoM'})", findings)


def register(app: typer.Typer) -> None:
    """Add `status`, `changes`, `agents` and `models` to the `report` group."""
    status_cmd = _report("status", _status, "Every scope's level")
    status_cmd.__doc__ = "Every scope's level with the numbers behind it (thresholds, share, changes, quality)."
    agents_cmd = _report("agents", _agents, "Agentic controls")
    agents_cmd.__doc__ = "Per-run caps, token budgets, escalation gates, cost per run and per outcome."
    app.command("status")(status_cmd)
    app.command("changes")(changes_cmd)
    app.command("agents")(agents_cmd)
    models_cmd = _report("models", _models, "Model review (last quarter)")
    models_cmd.__doc__ = "Quarterly model review: tiers, what-if on a cheaper model, caching/batch/self-hosting."
    app.command("models")(models_cmd)


def register_root(app: typer.Typer) -> None:
    """Add `evaluate`, `estimate` and the thresholds / workflows / alerts groups to the root app."""
    app.command("evaluate")(evaluate_cmd)
    app.command("estimate")(estimate_cmd)
    app.add_typer(thresholds_app, name="thresholds")
    app.add_typer(workflows_app, name="workflows")
    app.add_typer(alerts_app, name="alerts")


# ---- thresholds ------------------------------------------------------------------------------


def _amount(text: str | None, what: str) -> Decimal | None:
    if text is None:
        return None
    try:
        return parse_decimal(text, what=what)
    except MoneyError as exc:
        raise _fail(str(exc)) from None


@thresholds_app.command("list")
def thresholds_list(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """Every threshold."""
    rt = runtime(ctx)
    with session_scope(rt.engine()) as session:
        rows = store.list_thresholds(session)
        data = [store.threshold_json(t) for t in rows]
    if as_json:
        _print_json({"thresholds": data})
        return
    table = Table(title="Thresholds")
    for col in ("scope", "period", "yellow", "red", "updated by", "updated at"):
        table.add_column(col)
    for t in rows:
        table.add_row(
            Scope(t.scope_kind, t.scope_key).label,
            t.period_kind,
            format_money(t.yellow, t.currency) if t.yellow is not None else "-",
            format_money(t.red, t.currency) if t.red is not None else "-",
            t.updated_by,
            f"{as_utc(t.updated_at):%Y-%m-%d %H:%M}",
        )
    console.print(table)


@thresholds_app.command("set")
def thresholds_set(
    ctx: typer.Context,
    scope: str = typer.Option(..., "--scope", help="company, team:KEY, workflow:KEY, provider:KEY or model:KEY"),
    period: str = typer.Option("", "--period", help="month or week (default AISPEND_GOVERNANCE_PERIOD)."),
    yellow: str | None = typer.Option(None, "--yellow", help="Yellow level (money)."),
    red: str | None = typer.Option(None, "--red", help="Red level (money)."),
    budget: str | None = typer.Option(None, "--budget", help="Budget only: yellow at 80%, red at 100%."),
    currency: str = typer.Option("", "--currency", help="Default AISPEND_CURRENCY."),
    by: str = typer.Option("", "--by", help="Who makes the change (default: the OS user)."),
) -> None:
    """Create or replace a threshold (the change is audited: who, when, before, after)."""
    rt = runtime(ctx)
    target = parse_scope(scope)
    try:
        kind = parse_period_kind(period or rt.settings.governance_period)
        cur = normalize_currency(currency, rt.settings.currency)
    except (ValueError, MoneyError) as exc:
        raise _fail(str(exc)) from None
    y, r, b = _amount(yellow, "--yellow"), _amount(red, "--red"), _amount(budget, "--budget")
    try:
        if b is not None:
            if y is not None or r is not None:
                raise ValueError("give --budget alone, or --yellow and/or --red")
            y, r = levels_from_budget(b)
        rule = Threshold(target, kind, y, r, cur)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    try:
        with session_scope(rt.engine()) as session:
            row = store.set_threshold(session, rule, actor=by or getpass.getuser(), now=rt.clock())
            data = store.threshold_json(row)
    except ValueError as exc:  # an amount this database cannot store exactly: nothing was written
        raise _fail(str(exc)) from None
    typer.echo(json.dumps(data))


@thresholds_app.command("remove")
def thresholds_remove(
    ctx: typer.Context,
    scope: str = typer.Option(..., "--scope"),
    period: str = typer.Option("", "--period"),
    by: str = typer.Option("", "--by"),
) -> None:
    """Remove a threshold (audited)."""
    rt = runtime(ctx)
    target = parse_scope(scope)
    try:
        kind = parse_period_kind(period or rt.settings.governance_period)
        with session_scope(rt.engine()) as session:
            store.remove_threshold(session, target, period_kind=kind, actor=by or getpass.getuser(), now=rt.clock())
    except (ValueError, store.NotFoundError) as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"removed the {kind} threshold for {target.label}")


@thresholds_app.command("history")
def thresholds_history(ctx: typer.Context) -> None:
    """The audit trail of threshold changes (JSON lines)."""
    rt = runtime(ctx)
    with session_scope(rt.engine()) as session:
        for a in store.threshold_audit(session):
            typer.echo(
                json.dumps(
                    {
                        "at": as_utc(a.at).isoformat(),
                        "actor": a.actor,
                        "action": a.action,
                        "scope": {"kind": a.scope_kind, "key": a.scope_key},
                        "period": a.period_kind,
                        "before": a.before,
                        "after": a.after,
                    }
                )
            )


# ---- workflows -------------------------------------------------------------------------------


@workflows_app.command("list")
def workflows_list(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """Every workflow with owner, cap and token budget."""
    rt = runtime(ctx)
    with session_scope(rt.engine()) as session:
        data = [store.workflow_json(w) for w in store.list_workflows(session)]
    if as_json:
        _print_json({"workflows": data})
        return
    table = Table(title="Workflows")
    for col in ("workflow", "owner", "team", "run cost cap", "call token budget", "outcome unit"):
        table.add_column(col)
    for w in data:
        cap = w["run_cost_cap"]
        table.add_row(
            w["key"],
            w["owner"],
            w["team"],
            format_money(Decimal(cap["amount"]), cap["currency"]) if cap else "-",
            f"{w['call_token_budget']:,}" if w["call_token_budget"] else "-",
            w["outcome_unit"],
        )
    console.print(table)


@workflows_app.command("set-owner")
def workflows_set_owner(
    ctx: typer.Context,
    workflow: str = typer.Argument(...),
    owner: str = typer.Argument(..., help="Slack user id or e-mail"),
) -> None:
    """Set a workflow's owner (alerts about it mention the owner)."""
    rt = runtime(ctx)
    with session_scope(rt.engine()) as session:
        data = store.workflow_json(store.set_workflow_owner(session, workflow, owner=owner, now=rt.clock()))
    typer.echo(json.dumps(data))


@workflows_app.command("set-outcome")
def workflows_set_outcome(
    ctx: typer.Context,
    workflow: str = typer.Argument(...),
    unit: str | None = typer.Option(None, "--unit", help='One outcome, e.g. "resolved ticket".'),
    display_name: str | None = typer.Option(None, "--display-name", help="The name reports show."),
) -> None:
    """Name a workflow's outcome (cost per outcome is per this unit) and its display name. Outcomes are
    counted from the call logs' `outcome` field (a run whose outcome is set and is not a failure) or
    from recorded daily counts."""
    if unit is None and display_name is None:
        raise _fail("give --unit and/or --display-name")
    rt = runtime(ctx)
    try:
        with session_scope(rt.engine()) as session:
            data = store.workflow_json(
                store.set_workflow_outcome(session, workflow, now=rt.clock(), unit=unit, display_name=display_name)
            )
    except ValueError as exc:
        raise _fail(str(exc)) from None
    typer.echo(json.dumps(data))


@workflows_app.command("set-cap")
def workflows_set_cap(
    ctx: typer.Context,
    workflow: str = typer.Argument(...),
    run_cost_cap: str | None = typer.Option(None, "--run-cost-cap", help="Max cost of one run (money)."),
    call_token_budget: int | None = typer.Option(None, "--call-token-budget", help="Max tokens per call."),
    currency: str = typer.Option("", "--currency"),
    clear: bool = typer.Option(False, "--clear", help="Remove both limits first."),
) -> None:
    """Set a workflow's per-run cost cap and/or per-call token budget."""
    rt = runtime(ctx)
    cap = _amount(run_cost_cap, "--run-cost-cap")
    try:
        cur = normalize_currency(currency, rt.settings.currency) if currency or cap is not None else None
        with session_scope(rt.engine()) as session:
            data = store.workflow_json(
                store.set_workflow_cap(
                    session,
                    workflow,
                    now=rt.clock(),
                    run_cost_cap=cap,
                    call_token_budget=call_token_budget,
                    currency=cur,
                    clear=clear,
                )
            )
    except (ValueError, MoneyError) as exc:
        raise _fail(str(exc)) from None
    typer.echo(json.dumps(data))


# ---- alerts ----------------------------------------------------------------------------------


@alerts_app.command("list")
def alerts_list(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json"),
    all_levels: bool = typer.Option(False, "--all", help="Include ok and no-data."),
) -> None:
    """Alert states (open ones by default)."""
    rt = runtime(ctx)
    with session_scope(rt.engine()) as session:
        data = [store.alert_json(s) for s in store.alert_states(session) if all_levels or s.level in ("yellow", "red")]
    if as_json:
        _print_json({"alerts": data})
        return
    for a in data:
        typer.echo(
            f"[{a['level']}] {a['ref']}  {a['summary']}" + (f"  (acked by {a['acked_by']})" if a["acked_by"] else "")
        )


@alerts_app.command("ack")
def alerts_ack(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="Alert id or rule|kind:key|period"),
    by: str = typer.Option("", "--by"),
) -> None:
    """Acknowledge an alert: no reminders, no escalation."""
    rt = runtime(ctx)
    with session_scope(rt.engine()) as session:  # an alert not found: said by the root group (error[not_found])
        data = store.alert_json(store.ack_alert(session, ref, who=by or getpass.getuser(), now=rt.clock()))
    typer.echo(json.dumps(data))


@alerts_app.command("snooze")
def alerts_snooze(
    ctx: typer.Context,
    ref: str = typer.Argument(...),
    hours: float = typer.Option(24, "--hours", help="Snooze for this many hours."),
) -> None:
    """Snooze an alert: no reminders or escalation until then."""
    rt = runtime(ctx)
    with session_scope(rt.engine()) as session:  # an alert not found: said by the root group (error[not_found])
        until = as_utc(rt.clock()) + timedelta(hours=hours)
        data = store.alert_json(store.snooze_alert(session, ref, until=until))
    typer.echo(json.dumps(data))


# ---- model review and estimate ----------------------------------------------------------------


def _models(rt: Runtime, now: datetime) -> list[Finding]:
    try:
        with session_scope(rt.engine()) as session:
            return model_review(session, now=now, settings=rt.settings)
    except PriceError as exc:
        raise _fail(f"AISPEND_PRICES_FILE: {exc}") from None
    except LookupError as exc:
        raise _fail(f"{exc} (check AISPEND_REVIEW_SMALL_MODEL)") from None


def estimate_cmd(
    ctx: typer.Context,
    dau: int = typer.Option(..., "--dau", help="Daily active users."),
    actions: str = typer.Option(..., "--actions", help="AI actions per user per day."),
    tokens: int = typer.Option(..., "--tokens", help="Tokens per action (input + output)."),
    model: str = typer.Option(..., "--model", help="Model to price (provider:model or a model name)."),
    agentic_multiplier: str = typer.Option("1", "--agentic-multiplier", help="Calls per action for agents."),
    output_share: str = typer.Option("0.25", "--output-share", help="Share of tokens that are output."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Monthly cost = DAU x actions x tokens x price (x agentic multiplier), small vs frontier.

    The same figure as `/aispend estimate` for the same inputs (aispend.core.estimate)."""
    rt = runtime(ctx)
    rates = rt.spend_policy().rates
    try:
        spec = EstimateInput(
            dau,
            parse_decimal(actions, what="--actions"),
            tokens,
            parse_decimal(output_share, what="--output-share"),
            parse_decimal(agentic_multiplier, what="--agentic-multiplier"),
        )
        now = rt.clock()
        prices = price_book(rt.settings)
        refs = {
            "requested": model,
            "small": rt.settings.review_small_model,
            "frontier": rt.settings.review_frontier_model,
        }
        estimates = {role: estimate(spec, ref, now, prices, rates) for role, ref in refs.items()}
    except (ValueError, MoneyError, LookupError) as exc:
        raise _fail(str(exc)) from None
    rows: list[dict[str, Any]] = []
    for role, est in estimates.items():
        price = est.price
        row = {
            "role": role,
            "model": f"{price.provider}:{price.model}",
            "tier": price.tier,
            "price_source": price.source,
            "input_per_mtok": money_json(price.input_per_mtok, price.currency),
            "output_per_mtok": money_json(price.output_per_mtok, price.currency),
            "monthly_tokens": decimal_str(est.figures.monthly_tokens),
            "monthly_cost": est.monthly.as_json(),
            "per_call": est.per_call.as_json(),
        }
        if est.rate is not None:
            row["converted_from"] = {"currency": price.currency, "rate": str(est.rate)}
        if est.note:
            row["note"] = est.note
        rows.append(row)
    if as_json:
        _print_json(
            {
                "dau": dau,
                "actions_per_user": actions,
                "tokens_per_action": tokens,
                "agentic_multiplier": agentic_multiplier,
                "output_share": output_share,
                "days": spec.days,
                "estimates": rows,
            }
        )
        return
    table = Table(
        title=f"Monthly estimate: {dau:,} DAU x {actions} actions x {tokens:,} tokens"
        f" x {agentic_multiplier} (30 days, {output_share} output)"
    )
    for col in ("", "model", "tier", "$/M input", "$/M output", "tokens / month", "cost / month"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["role"],
            r["model"],
            r["tier"],
            r["input_per_mtok"]["amount"],
            r["output_per_mtok"]["amount"],
            f"{Decimal(r['monthly_tokens']):,.0f}",
            format_money(Decimal(r["monthly_cost"]["amount"]), r["monthly_cost"]["currency"]),
        )
    console.print(table)
    for line in dict.fromkeys(_estimate_currency_line(est) for est in estimates.values()):
        if line:
            console.print(escape(line))


def _estimate_currency_line(est: ModelEstimate) -> str:
    if est.note:
        return f"Costs {est.note}"
    if est.rate is not None:
        return f"Costs converted from {est.price.currency} list prices at {est.rate} ({est.monthly.currency})."
    return ""
