"""What the bot reads and writes, over the core: the ledger's figures (LedgerData), governance's
colours, thresholds, budget and changes (GovernanceSource), and shadow-AI findings for an audience
(ShadowSource), each as the views the renderers take (bot/views.py).

Every ledger query reads daily rollups grouped in SQL, never raw calls, so a year of data stays fast;
spend is always the one definition (core/ledger/spend.py). Thresholds live only in the governance
tables (`gov_threshold`, audited in `gov_threshold_audit`), so `/aispend thresholds set` and
`aispend thresholds set` change the same rows. Shadow AI: finance admins see everything (people
included); everyone else never sees a person, nor a team smaller than AISPEND_SHADOW_MIN_GROUP_SIZE.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from aispend.bot.views import (
    GREEN,
    RED,
    UNKNOWN,
    YELLOW,
    BreakdownDetail,
    BudgetLine,
    ChangeLine,
    DailyPoint,
    ScopeColour,
    ShadowFinding,
    SourceFreshness,
    TopReport,
    WorkflowDetail,
    WorkflowRow,
)
from aispend.core.governance import reports, store
from aispend.core.governance.config import GovernanceConfig
from aispend.core.governance.store import set_workflow_outcome
from aispend.core.ledger.db import session_scope
from aispend.core.ledger.models import AgentRun, CallRollupDaily, Workflow
from aispend.core.ledger.queries import outcomes_by_workflow, sync_states
from aispend.core.ledger.spend import Spend, SpendPolicy, spend
from aispend.core.money import Money, decimal_str, format_money, percent
from aispend.core.reports.load import top_report
from aispend.core.reports.periods import comparison_of, period_containing, window_period
from aispend.core.reports.reconcile import reconcile_period
from aispend.core.rules.findings import COMPANY, Finding, Level, Scope, severity
from aispend.core.rules.freshness import read_freshness
from aispend.core.rules.periods import Period
from aispend.core.rules.reconciliation import drifting, period_totals
from aispend.core.rules.share import SHARE_RULE
from aispend.core.rules.thresholds import RULE as THRESHOLD_RULE
from aispend.core.rules.thresholds import Threshold
from aispend.core.settings import DRIFT_PCT, STALE_HOURS, Settings
from aispend.core.shadow.findings import NEW_VENDOR, SPEND_SPIKE
from aispend.core.shadow.render import FINANCE, GENERAL, visible
from aispend.core.shadow.service import monthly_report
from aispend.core.timeutil import as_utc, month_start

ALL_ROWS = 100_000  # "every workflow": the digest counts them all, renderers cut the list
NAME_WINDOW = timedelta(days=62)  # names offered by "did you mean": seen in about two months
_DIMENSION = {"team": CallRollupDaily.team, "model": CallRollupDaily.model, "workflow": CallRollupDaily.workflow}


def current_period(kind: str, today: date) -> tuple[Period, Period | None, Period | None]:
    """This week/month so far; the complete days of it a change is measured over, and the same
    weekdays before (the report layer's like-for-like rule). No comparison on a period's first day."""
    current = period_containing(kind, today, today)
    comparison = comparison_of(current, today)
    if comparison is None:
        return current, None, None
    return current, window_period(kind, comparison.current), window_period(kind, comparison.previous)


def _notes(*spends: Spend | None) -> list[str]:
    return list(dict.fromkeys(n for s in spends if s is not None for n in s.notes()))


def change_pct(cost: Decimal, previous: Decimal | None) -> Decimal | None:
    if previous is None or previous == 0:
        return None
    return percent(cost - previous, previous)


class LedgerData:
    def __init__(
        self,
        engine: Engine,
        currency: str = "USD",
        *,
        stale_after: timedelta = timedelta(hours=STALE_HOURS),
        drift_pct: Decimal = DRIFT_PCT,
        policy: SpendPolicy | None = None,
    ) -> None:
        self.engine = engine
        self.policy = policy or SpendPolicy(currency)  # how spend is counted (basis, rates)
        self.currency = self.policy.currency
        self.stale_after = stale_after  # AISPEND_SYNC_STALE_HOURS, as `aispend status` uses it
        self.drift_pct = drift_pct  # AISPEND_RECONCILIATION_DRIFT_PCT, as the dq_reconciliation finding uses it

    # --- rankings -------------------------------------------------------------------------------------

    def top(self, period_kind: str, now: datetime) -> TopReport:
        today = as_utc(now).date()
        return self.top_for(period_kind, today, today)

    def top_for(self, kind: str, at: date, today: date) -> TopReport:
        """The report layer's top report (every workflow with spend) for the week/month containing `at`."""
        with self.engine.connect() as conn:
            report = top_report(conn, by="workflow", kind=kind, at=at, today=today, limit=ALL_ROWS, policy=self.policy)
        return top_from_report_json(report)

    def _spend(
        self, session: Session, period: Period | None, dims: list[str], where: dict[str, str], *, counts: bool = False
    ) -> Spend | None:
        """The one spend figure (`ledger.spend.spend`) for a period, as every view shows it."""
        if period is None:
            return None
        conn = session.connection()
        return spend(
            conn, start=period.start, end=period.end, dims=dims, policy=self.policy, where=where, counts=counts
        )

    def _outcomes(self, session: Session, period: Period, workflow: str | None = None) -> dict[str, int]:
        return outcomes_by_workflow(session.connection(), start=period.start, end=period.end, workflow=workflow)

    # --- one workflow / team / model ------------------------------------------------------------------

    def workflow_names(self) -> list[str]:
        """Registered workflows and those with spend in the last NAME_WINDOW (for "did you mean")."""
        with Session(self.engine) as session:
            known = set(session.exec(select(Workflow.key)).all())
            known |= set(self._recent(session, CallRollupDaily.workflow))
        return sorted(k for k in known if k)

    def names(self, kind: str) -> list[str]:
        with Session(self.engine) as session:
            return sorted(n for n in self._recent(session, _DIMENSION[kind]) if n)

    def _recent(self, session: Session, column: Any) -> list[str]:
        """Distinct values of a dimension in the last NAME_WINDOW of rollups (a year of rows is too many)."""
        latest = session.exec(select(func.max(CallRollupDaily.day))).one()
        if latest is None:
            return []
        since = latest - NAME_WINDOW
        query = sa_select(column).where(col(CallRollupDaily.day) >= since).distinct()
        return [str(v) for v in session.execute(query).scalars().all()]

    def workflow(self, key: str, now: datetime) -> WorkflowDetail | None:
        current, compared, previous = current_period("month", as_utc(now).date())
        with Session(self.engine) as session:
            wf = session.get(Workflow, key)
            by_model = self._spend(session, current, ["model"], {"workflow": key}, counts=True)
            assert by_model is not None
            before = self._spend(session, previous, [], {"workflow": key})
            so_far = self._spend(session, compared, [], {"workflow": key})
            calls, unpriced = by_model.count("calls"), by_model.count("unpriced_calls")
            if wf is None and not calls and not by_model.lines and not (before and before.lines):
                return None
            runs = session.exec(
                select(func.count()).where(
                    AgentRun.workflow == key, AgentRun.day >= current.start, AgentRun.day < current.end
                )
            ).one()
            outcomes = self._outcomes(session, current, key).get(key, 0)
        currency = self.policy.currency
        cost = by_model.total()
        prev = before.total() if before else None
        run_count = int(runs or 0)
        models = sorted(
            ((m, Money(amount, currency)) for (m,), amount in by_model.by("model").items() if amount),
            key=lambda m: -m[1].amount,
        )
        return WorkflowDetail(
            key=key,
            label=(wf.display_name if wf else "") or key,
            period=current,
            cost=Money(cost, currency),
            previous_cost=Money(prev, currency) if prev is not None else None,
            change_pct=change_pct(so_far.total(), prev) if so_far else None,
            runs=run_count,
            calls=calls,
            cost_per_run=Money(cost / run_count, currency) if run_count else None,
            cost_per_outcome=Money(cost / outcomes, currency) if outcomes else None,
            outcome_unit=wf.outcome_unit if wf else "",
            outcomes=outcomes,
            owner=wf.owner if wf else "",
            team=wf.team if wf else "",
            models=models,
            unpriced_calls=unpriced,
            basis=self.policy.basis,
            notes=_notes(by_model, before, so_far),
        )

    def breakdown(self, kind: str, name: str, now: datetime) -> BreakdownDetail | None:
        current, compared, previous = current_period("month", as_utc(now).date())
        with Session(self.engine) as session:
            rows = self._spend(session, current, ["workflow"], {kind: name}, counts=True)
            before = self._spend(session, previous, [], {kind: name})
            so_far = self._spend(session, compared, [], {kind: name})
        assert rows is not None
        calls = rows.count("calls")
        if not calls and not rows.lines and not (before and before.lines):
            return None
        currency = self.policy.currency
        prev = before.total() if before else None
        by_workflow = sorted(
            ((w, Money(amount, currency)) for (w,), amount in rows.by("workflow").items() if amount),
            key=lambda m: -m[1].amount,
        )
        return BreakdownDetail(
            kind=kind,
            name=name,
            period=current,
            cost=Money(rows.total(), currency),
            previous_cost=Money(prev, currency) if prev is not None else None,
            change_pct=change_pct(so_far.total(), prev) if so_far else None,
            calls=calls,
            by_workflow=by_workflow,
            basis=self.policy.basis,
            notes=_notes(rows, before, so_far),
        )

    # --- digest, home ---------------------------------------------------------------------------------

    def daily(self, start: date, end: date) -> list[DailyPoint]:
        """Spend per day and workflow (the digest's chart): the same figure as the table beside it."""
        with Session(self.engine) as session:
            merged = spend(session.connection(), start=start, end=end, dims=["workflow"], policy=self.policy)
        points: dict[tuple[date, str], Decimal] = {}
        for line in merged.lines:
            key = (line.day, line.values[0] or "(unattributed)")
            points[key] = points.get(key, Decimal(0)) + line.amount
        return [DailyPoint(day=d, series=w, cost=c) for (d, w), c in sorted(points.items())]

    def sources(self, now: datetime) -> list[SourceFreshness]:
        """Every synced source as `rules.freshness` reads it; an error shows only while it is the latest."""
        with self.engine.connect() as conn:
            states = sync_states(conn)
        out = []
        for name, row in states.items():
            f = read_freshness(name, row, now, self.stale_after)
            out.append(
                SourceFreshness(
                    source=f.source,
                    last_success_at=f.last_success_at,
                    freshest_data_at=f.freshest_data_at,
                    last_error=f.last_error if f.failing and f.last_error else None,
                    stale=f.stale,
                )
            )
        return out

    def reconciliation_drift(self, start: date, end: date) -> list[str]:
        """Per provider over [start, end): bill vs per-call logs, when they differ by more than drift_pct."""
        with self.engine.connect() as conn:
            totals = period_totals(reconcile_period(conn, start=start, end=end, basis=self.policy.basis))
        lines = []
        for row in totals:
            if not drifting(row, self.drift_pct):
                continue
            assert row.bill is not None
            why = "; ".join(c.message for c in row.causes[:3])
            lines.append(
                f"{row.provider}: per-call logs {format_money(row.calls_cost, row.currency)} vs bill "
                f"{format_money(row.bill, row.currency)} ({row.drift_percent:+}% of the bill)"
                + (f": {why}" if why else "")
            )
        return lines

    # --- owner ----------------------------------------------------------------------------------------

    def owner_of(self, workflow: str) -> str | None:
        with Session(self.engine) as session:
            wf = session.get(Workflow, workflow)
            return wf.owner if wf else None

    def set_owner(self, session: Session, workflow: str, owner: str, now: datetime) -> tuple[str, str]:
        wf = session.get(Workflow, workflow)
        if wf is None:
            wf = Workflow(key=workflow, currency=self.currency, updated_at=now)
        before = wf.owner
        wf.owner = owner
        wf.updated_at = now
        session.add(wf)
        return before, owner

    def set_outcome(
        self, session: Session, workflow: str, *, unit: str | None, display_name: str | None, now: datetime
    ) -> tuple[dict[str, str] | None, dict[str, str]]:
        """The CLI's write (`aispend workflows set-outcome`), so both check and store the same way."""
        wf = session.get(Workflow, workflow)
        before = _outcome_fields(wf) if wf is not None else None
        return before, _outcome_fields(
            set_workflow_outcome(session, workflow, now=now, unit=unit, display_name=display_name)
        )


def _outcome_fields(wf: Workflow) -> dict[str, str]:
    return {"outcome_unit": wf.outcome_unit, "display_name": wf.display_name}


# --- the report layer's JSON (`aispend report top --json`) -> TopReport ------------------------------------


def _money_from(data: dict[str, str] | None) -> Money | None:
    return Money(Decimal(data["amount"]), data["currency"]) if data else None


def top_from_report_json(report: dict[str, Any]) -> TopReport:
    """The report layer's `top` JSON as the renderers' TopReport (so the bot can reuse that query as is)."""
    period = report["period"]
    rows = []
    for r in report["rows"]:
        cost = _money_from(r["cost"])
        assert cost is not None, f"row {r.get('key')!r} has no cost"
        rows.append(
            WorkflowRow(
                rank=int(r["rank"]),
                key=r["key"],
                label=r.get("label") or r["key"],
                cost=cost,
                previous_cost=_money_from(r.get("previous_cost")),
                change_pct=Decimal(r["change_pct"]) if r.get("change_pct") is not None else None,
                share_pct=Decimal(r["share_pct"]) if r.get("share_pct") is not None else None,
                calls=int(r.get("calls", 0)),
                runs=int(r.get("runs", 0)),
                unpriced_calls=int(r.get("unpriced_calls", 0)),
                owner=r.get("owner", ""),
                cost_per_run=_money_from(r.get("cost_per_run")),
                cost_per_outcome=_money_from(r.get("cost_per_outcome")),
                outcome_unit=r.get("outcome_unit", ""),
            )
        )
    return TopReport(
        period=Period.from_json(period),
        totals=[m for m in (_money_from(t) for t in report.get("totals", [])) if m is not None],
        rows=rows,
        unpriced_calls=int((report.get("unpriced") or {}).get("calls", 0)),
        compared=str((report.get("comparison") or {}).get("label", "")),
        basis=str(report.get("cost_basis", "billed")),
        notes=[str(n) for n in report.get("notes", [])],
    )


# --- governance: colours, thresholds, budget, changes ----------------------------------------------

_COLOUR = {Level.RED: RED, Level.YELLOW: YELLOW, Level.OK: GREEN}
MAX_CHANGES = 8


def _money(value: Any) -> Money | None:
    """A finding's {"amount", "currency"} as Money (None when absent)."""
    if not isinstance(value, dict) or "amount" not in value:
        return None
    return Money(Decimal(str(value["amount"])), str(value["currency"]))


def _colour(level: Level) -> str:
    return _COLOUR.get(level, UNKNOWN)


class GovernanceSource:
    def __init__(self, engine: Engine, config: GovernanceConfig) -> None:
        self.engine = engine
        self.config = config

    # --- colours: every scope with a threshold, and workflows coloured by their share of spend -----------

    def colours(self, now: datetime) -> list[ScopeColour]:
        with session_scope(self.engine) as session:
            findings = reports.colour_findings(session, now=now, config=self.config)
        out: dict[tuple[str, str], ScopeColour] = {}
        levels: dict[tuple[str, str], Level] = {}
        for f in findings:
            if f.rule != THRESHOLD_RULE:
                continue
            numbers = f.numbers
            limits = numbers.get("limits", {})
            spent = _money(numbers.get("forecast", {}).get("actual_to_date")) or Money(Decimal(0), self.config.currency)
            key = (f.scope.kind, f.scope.key)
            out[key] = ScopeColour(
                f.scope.kind,
                f.scope.key,
                _colour(f.level),
                spent,
                _money(limits.get("yellow")),
                _money(limits.get("red")),
            )
            levels[key] = f.level
        for f in findings:
            # Share of spend turns a workflow red even under budget: its colour is the worse of the two.
            if f.rule != SHARE_RULE or f.level not in (Level.YELLOW, Level.RED):
                continue
            key = (f.scope.kind, f.scope.key)
            if key in out and severity(levels[key]) >= severity(f.level):
                continue
            spent = _money(f.numbers.get("workflow_spend")) or Money(Decimal(0), self.config.currency)
            current = out.get(key)
            out[key] = ScopeColour(
                f.scope.kind,
                f.scope.key,
                _colour(f.level),
                current.spent if current else spent,
                current.yellow if current else None,
                current.red if current else None,
            )
            levels[key] = f.level
        order = {"company": 0, "team": 1, "workflow": 2, "provider": 3, "model": 4}
        return sorted(out.values(), key=lambda c: (order.get(c.scope_kind, 9), c.scope))

    # --- thresholds ---------------------------------------------------------------------------------------

    def set_threshold(
        self,
        session: Session,
        scope_kind: str,
        scope: str,
        yellow: Decimal | None,
        red: Decimal | None,
        *,
        actor: str = "",
        now: datetime,
    ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """Create or change the scope's threshold for the default period; a level not given is kept.
        Raises ValueError (shown to the user) when the levels do not make a valid threshold."""
        target = COMPANY if scope_kind == "company" else Scope(scope_kind, scope)
        period = self.config.period_kind
        current = next(
            (
                t
                for t in store.list_thresholds(session)
                if (t.scope_kind, t.scope_key, t.period_kind) == (target.kind, target.key, period)
            ),
            None,
        )
        old_yellow, old_red = (_plain(current.yellow), _plain(current.red)) if current else (None, None)
        before = _flat(old_yellow, old_red, current.currency, period) if current else None
        currency = current.currency if current else self.config.currency
        new_yellow = yellow if yellow is not None else old_yellow
        new_red = red if red is not None else old_red
        rule = Threshold(target, period, new_yellow, new_red, currency)  # validates: ValueError
        store.set_threshold(session, rule, actor=actor or "slack", now=now)
        return before, _flat(rule.yellow, rule.red, rule.currency, period)

    # --- budget and forecast ----------------------------------------------------------------------------

    def budget(self, now: datetime) -> BudgetLine | None:
        """The company's spend this period, its forecast, and its budget (the red level of the company
        threshold for the period, when there is one). None when nothing was spent in the period."""
        with session_scope(self.engine) as session:
            forecast = reports.company_forecast(session, now=now, config=self.config)
            limit = next(
                (
                    t
                    for t in store.list_thresholds(session)
                    if t.scope_kind == "company" and t.period_kind == self.config.period_kind
                ),
                None,
            )
        if forecast is None:
            return None
        amount, currency = forecast
        budget = None
        if limit is not None and (limit.red if limit.red is not None else limit.yellow) is not None:
            level = limit.red if limit.red is not None else limit.yellow
            assert level is not None
            budget = Money(level, limit.currency)
        return BudgetLine(
            total=Money(amount.actual_to_date, currency),
            budget=budget,
            forecast=Money(amount.expected, currency),
        )

    # --- what changed and why -------------------------------------------------------------------------------

    def changes(self, now: datetime) -> list[ChangeLine]:
        with session_scope(self.engine) as session:
            findings = reports.changes(session, now=now, config=self.config, period_kind="week")
        return change_lines(findings)


def change_lines(findings: list[Finding]) -> list[ChangeLine]:
    """The company first, then flagged scopes, then the biggest movers; one line each."""
    lines: list[tuple[tuple[int, Decimal, str], ChangeLine]] = []
    for f in findings:
        change = _money(f.numbers.get("change"))
        if change is None or change.amount == 0:
            continue
        label = f.scope.label
        reason = f.summary.removeprefix(f"{label}: ")
        rank = 0 if f.scope == COMPANY else 1 if f.level is Level.YELLOW else 2
        lines.append(((rank, -abs(change.amount), label), ChangeLine(label, change, reason)))
    lines.sort(key=lambda item: item[0])
    return [line for _, line in lines[:MAX_CHANGES]]


def _plain(value: Decimal | None) -> Decimal | None:
    """A stored amount without the ledger's trailing zeros (10000.000000000000 -> 10000)."""
    return None if value is None else Decimal(decimal_str(value))


def _flat(yellow: Decimal | None, red: Decimal | None, currency: str, period: str) -> dict[str, Any]:
    return {
        "yellow": decimal_str(yellow) if yellow is not None else None,
        "red": decimal_str(red) if red is not None else None,
        "currency": currency,
        "period": period,
    }


# --- shadow AI, for an audience --------------------------------------------------------------------

DIGEST_KINDS = (NEW_VENDOR, SPEND_SPIKE)  # what the weekly digest calls "new" shadow AI


class ShadowSource:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings

    def findings(self, month: date | None, *, finance: bool, now: datetime) -> list[ShadowFinding]:
        """The month's findings (default: last complete month, as `aispend report shadow`) for the audience.

        Finance: a finance admin of the bot (AISPEND_SLACK_FINANCE_ADMINS)."""
        report = monthly_report(self.engine, month, now=now, settings=self.settings)
        audience = FINANCE if finance else GENERAL
        out = []
        for finding in report.findings:
            if not visible(finding, audience, self.settings.shadow_min_group_size):
                continue
            vendor = report.vendor_names.get(finding.vendor, finding.vendor) or finding.kind.replace("_", " ")
            spend = Money(finding.amount, report.currency) if finding.amount is not None else None
            out.append(ShadowFinding(vendor=vendor, detail=finding.title, spend=spend))
        return out

    def new_this_month(self, day: date, now: datetime) -> list[ShadowFinding]:
        """New vendors and spend spikes in the month containing `day`, as everyone may see them."""
        report = monthly_report(self.engine, month_start(day), now=now, settings=self.settings)
        return [
            ShadowFinding(
                vendor=report.vendor_names.get(f.vendor, f.vendor),
                detail=f.title,
                spend=Money(f.amount, report.currency) if f.amount is not None else None,
            )
            for f in report.findings
            if f.kind in DIGEST_KINDS and visible(f, GENERAL, self.settings.shadow_min_group_size)
        ]
