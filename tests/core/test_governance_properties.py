"""Property tests: evaluation is idempotent, and the order data arrives in does not change the final state."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, select
from sqlmodel import Session

from aispend.core.governance import store
from aispend.core.governance.config import GovernanceConfig
from aispend.core.governance.evaluate import evaluate
from aispend.core.governance.models import AlertState, Notification, Threshold, ThresholdAudit
from aispend.core.ledger.models import CallRollup, CallRollupDaily
from aispend.core.rules.findings import COMPANY, Scope
from aispend.core.rules.share import SharePolicy
from aispend.core.rules.thresholds import Threshold as ThresholdRule
from tests.governance_builders import insert, rollup

NOW = datetime(2026, 11, 20, 15, tzinfo=UTC)
CONFIG = GovernanceConfig(share=SharePolicy(min_total=Decimal(50)))
WORKFLOWS = ["triage", "review", "search", "drafts"]

# (day of November, hour, workflow) -> cost in cents (credits included)
spend = st.dictionaries(
    st.tuples(st.integers(1, 20), st.integers(0, 23), st.sampled_from(WORKFLOWS)),
    st.integers(-2_000, 40_000),
    min_size=1,
    max_size=40,
)
PROPERTY = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _reset(engine: Engine) -> None:
    with Session(engine) as session:
        for model in (Notification, AlertState, ThresholdAudit, Threshold, CallRollup, CallRollupDaily):
            session.execute(delete(model))
        store.set_threshold(
            session,
            ThresholdRule(COMPANY, "month", Decimal(800), Decimal(1500), "USD"),
            actor="test",
            now=NOW,
        )
        store.set_threshold(
            session,
            ThresholdRule(Scope("workflow", "triage"), "week", None, Decimal(300), "USD"),
            actor="test",
            now=NOW,
        )
        session.commit()


def _rows(data: dict[tuple[int, int, str], int]) -> list[CallRollup]:
    return [rollup(date(2026, 11, d), str(Decimal(cents) / 100), wf, hour=h) for (d, h, wf), cents in data.items()]


def _levels(engine: Engine) -> dict[tuple[str, str, str, str], str]:
    with Session(engine) as session:
        return {
            (s.rule, s.scope_kind, s.scope_key, s.period): s.level
            for s in session.execute(select(AlertState)).scalars()
        }


@PROPERTY
@given(data=spend)
def test_evaluating_twice_creates_no_new_notifications(engine: Engine, data: dict) -> None:
    _reset(engine)
    insert(engine, *_rows(data))
    evaluate(engine, now=NOW, config=CONFIG)
    levels = _levels(engine)
    assert evaluate(engine, now=NOW, config=CONFIG).new_notifications == []
    assert _levels(engine) == levels


@PROPERTY
@given(data=spend, order=st.randoms(use_true_random=False), chunks=st.integers(1, 4))
def test_arrival_order_does_not_change_the_final_state(engine: Engine, data: dict, order: object, chunks: int) -> None:
    # All at once, evaluated once.
    _reset(engine)
    insert(engine, *_rows(data))
    evaluate(engine, now=NOW, config=CONFIG)
    expected = _levels(engine)
    # The same rows in a shuffled order, in chunks, with an evaluation after each chunk.
    _reset(engine)
    keys = list(data)
    order.shuffle(keys)  # type: ignore[attr-defined]
    for i in range(chunks):
        part = keys[i::chunks]
        if part:
            insert(engine, *_rows({k: data[k] for k in part}))
        evaluate(engine, now=NOW, config=CONFIG)
    evaluate(engine, now=NOW, config=CONFIG)
    assert _levels(engine) == expected
