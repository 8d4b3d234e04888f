"""LedgerQueries over the ledger tables (CallRollupDaily, AgentRun, Workflow, Outcome, SyncState).

Every query reads daily rollups grouped in SQL, never raw calls, so a year of data stays fast.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from aispend.bot.views import (
    BreakdownDetail,
    DailyPoint,
    Period,
    SourceFreshness,
    TopReport,
    WorkflowDetail,
    WorkflowRow,
)
from aispend.core.governance.store import set_workflow_outcome
from aispend.core.ledger.models import AgentRun, CallRollupDaily, SyncState, Workflow
from aispend.core.ledger.queries import outcomes_by_workflow
from aispend.core.ledger.spend import Spend, SpendPolicy, spend
from aispend.core.money import Money, format_money, percent
from aispend.core.reports.load import top_report
from aispend.core.reports.periods import Period as ReportPeriod
from aispend.core.reports.periods import comparison_of, period_containing
from aispend.core.reports.reconcile import reconcile_period
from aispend.core.rules.reconciliation import period_totals
from aispend.core.settings import DRIFT_PCT, STALE_HOURS
from aispend.core.timeutil import as_utc

ALL_ROWS = 100_000  # "every workflow": the digest counts them all, renderers cut the list
NAME_WINDOW = timedelta(days=62)  # names offered by "did you mean": seen in about two months
_DIMENSION = {"team": CallRollupDaily.team, "model": CallRollupDaily.model, "workflow": CallRollupDaily.workflow}


def current_period(kind: str, today: date) -> tuple[Period, Period | None, Period | None]:
    """This week/month so far; the complete days of it a change is measured over, and the same
    weekdays before (the report layer's like-for-like rule). No comparison on a period's first day."""
    current = period_containing(kind, today, today)
    comparison = comparison_of(current, today)
    if comparison is None:
        return _period(current), None, None
    return (
        _period(current),
        Period(kind, *comparison.current, complete=True),
        Period(kind, *comparison.previous, complete=True),
    )


def _period(p: ReportPeriod) -> Period:
    return Period(p.kind, p.start, p.end, p.complete)


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
        return spend(conn, period.start, period.end, dims, policy=self.policy, where=where, counts=counts)

    def _outcomes(self, session: Session, period: Period, workflow: str | None = None) -> dict[str, int]:
        return outcomes_by_workflow(session.connection(), period.start, period.end, workflow)

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
            merged = spend(session.connection(), start, end, ["workflow"], policy=self.policy)
        points: dict[tuple[date, str], Decimal] = {}
        for line in merged.lines:
            key = (line.day, line.values[0] or "(unattributed)")
            points[key] = points.get(key, Decimal(0)) + line.amount
        return [DailyPoint(day=d, series=w, cost=c) for (d, w), c in sorted(points.items())]

    def sources(self, now: datetime) -> list[SourceFreshness]:
        with Session(self.engine) as session:
            states = session.exec(select(SyncState).order_by(col(SyncState.source))).all()
        out = []
        for s in states:
            fresh = as_utc(s.last_success_at) if s.last_success_at else None
            stale = fresh is None or as_utc(now) - fresh > self.stale_after
            failing = bool(s.last_error) and (
                s.last_error_at is not None and (fresh is None or as_utc(s.last_error_at) > fresh)
            )
            out.append(
                SourceFreshness(
                    source=s.source,
                    last_success_at=fresh,
                    freshest_data_at=as_utc(s.freshest_data_at) if s.freshest_data_at else None,
                    last_error=s.last_error if failing else None,
                    stale=stale,
                )
            )
        return out

    def reconciliation_drift(self, start: date, end: date) -> list[str]:
        """Per provider over [start, end): bill vs per-call logs, when they differ by more than drift_pct."""
        with self.engine.connect() as conn:
            totals = period_totals(reconcile_period(conn, start, end, self.policy.basis))
        lines = []
        for row in totals:
            pct = row.drift_percent
            if row.bill is None or pct is None or abs(pct) <= self.drift_pct:
                continue
            why = "; ".join(c.message for c in row.causes[:3])
            lines.append(
                f"{row.provider}: per-call logs {format_money(row.calls_cost, row.currency)} vs bill "
                f"{format_money(row.bill, row.currency)} ({pct:+}% of the bill)" + (f": {why}" if why else "")
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
        period=Period(
            period["kind"],
            date.fromisoformat(period["start"]),
            date.fromisoformat(period["end"]),
            bool(period.get("complete", True)),
        ),
        totals=[m for m in (_money_from(t) for t in report.get("totals", [])) if m is not None],
        rows=rows,
        unpriced_calls=int((report.get("unpriced") or {}).get("calls", 0)),
        compared=str((report.get("comparison") or {}).get("label", "")),
        basis=str(report.get("cost_basis", "billed")),
        notes=[str(n) for n in report.get("notes", [])],
    )
