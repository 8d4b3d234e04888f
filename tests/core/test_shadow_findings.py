"""Duplicates, refunds and the month's findings, on small hand-built rows (pure, no database)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from aispend.core.shadow.catalog import load_catalog
from aispend.core.shadow.classify import classify
from aispend.core.shadow.expense import (
    KIND_CHARGE,
    KIND_FX_FEE,
    KIND_REFUND,
    PAID_CARD,
    PAID_REIMBURSABLE,
    ExpenseRow,
)
from aispend.core.shadow.findings import (
    CONSOLIDATION,
    DATA_DUPLICATE,
    DUPLICATE_SUBSCRIPTION,
    FUNCTIONAL_OVERLAP,
    NEW_VENDOR,
    OUTSIDE_PROCUREMENT,
    SPEND_SPIKE,
    Rules,
    month_report,
)
from aispend.core.shadow.matcher import Matcher
from aispend.core.shadow.render import FINANCE, GENERAL, SMALL_TEAMS, report_json, report_text

OCT = date(2026, 10, 1)
_counter = iter(range(1, 100_000))


def row(
    descriptor: str,
    amount: str,
    day: date,
    person: str = "ana@acme.example",
    team: str = "Eng",
    source: str = "ramp",
    tid: str | None = None,
    paid_by: str = PAID_CARD,
    memo: str = "",
    currency: str = "USD",
) -> ExpenseRow:
    n = next(_counter)
    value = Decimal(amount)
    kind = KIND_REFUND if value < 0 else KIND_CHARGE
    if "FEE" in descriptor:
        kind = KIND_FX_FEE
    ident = tid if tid is not None else f"t{n}"
    return ExpenseRow(
        file="f.csv",
        row=n,
        source=source,
        natural_key=ident or f"h{n}",
        transaction_id=ident,
        day=day,
        amount=value,
        currency=currency,
        descriptor=descriptor,
        merchant="",
        email=person,
        department=team,
        paid_by=paid_by,
        memo=memo,
        kind=kind,
        company_amount=value,
    )


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(load_catalog())


def _kinds(report) -> list[str]:
    return [f.kind for f in report.findings]


def test_billed_twice_then_refunded_is_not_a_data_duplicate(matcher: Matcher) -> None:
    a = row("CURSOR USAGE", "20.00", date(2026, 10, 1))
    b = row("CURSOR USAGE", "20.00", date(2026, 10, 1))
    refund = row("CURSOR USAGE", "-20.00", date(2026, 10, 3))
    out = classify([a, b, refund], matcher)
    assert [c.duplicate_of for c in out] == [None, None, None]
    assert out[2].refund_of is b
    report = month_report(out, OCT, matcher, Rules(), "USD")
    assert report.by_vendor["cursor"].net == Decimal("20.00")


def test_card_charge_claimed_again_out_of_pocket_counts_once(matcher: Matcher) -> None:
    card = row("OPENAI *CHATGPT SUBSCR", "20.00", date(2026, 10, 2))
    claim = row("ChatGPT", "20.00", date(2026, 10, 1), paid_by=PAID_REIMBURSABLE, tid="")
    out = classify([claim, card], matcher)
    assert out[0].duplicate_of is card and out[1].duplicate_of is None  # the card line is the original
    report = month_report(out, OCT, matcher, Rules(), "USD")
    assert report.by_vendor["openai"].net == Decimal("20.00")
    assert DATA_DUPLICATE in _kinds(report)


def test_same_charge_from_two_platforms_counts_once(matcher: Matcher) -> None:
    ramp = row("MIDJOURNEY INC", "30.00", date(2026, 10, 2), source="ramp")
    expensify = row("Midjourney", "30.00", date(2026, 10, 3), source="expensify")
    out = classify([ramp, expensify], matcher)
    assert out[1].duplicate_of is ramp and "ramp and expensify" in out[1].duplicate_reason


def test_same_amount_days_apart_beyond_the_window_is_not_a_duplicate(matcher: Matcher) -> None:
    card = row("OPENAI", "20.00", date(2026, 10, 1))
    claim = row("OpenAI", "20.00", date(2026, 10, 20), paid_by=PAID_REIMBURSABLE)
    assert [c.duplicate_of for c in classify([card, claim], matcher)] == [None, None]


def test_new_vendor_only_without_charges_in_the_prior_180_days(matcher: Matcher) -> None:
    rows = [
        row("PERPLEXITY.AI", "20.00", date(2026, 5, 10)),  # 144 days before October: not new
        row("PERPLEXITY.AI", "20.00", date(2026, 10, 10)),
        row("MIDJOURNEY INC", "30.00", date(2026, 3, 1)),  # 214 days before: new again
        row("MIDJOURNEY INC", "30.00", date(2026, 10, 4)),
    ]
    report = month_report(classify(rows, matcher), OCT, matcher, Rules(), "USD")
    assert [f.vendor for f in report.findings if f.kind == NEW_VENDOR] == ["midjourney"]


def test_consolidation_when_several_people_pay_individually(matcher: Matcher) -> None:
    people = ["a@x", "b@x", "c@x", "d@x"]
    rows = [row("OPENAI *CHATGPT SUBSCR", "20.00", date(2026, 10, 3), person=p) for p in people]
    rows.append(row("ANTHROPIC", "20.00", date(2026, 10, 3), person="a@x"))
    report = month_report(classify(rows, matcher), OCT, matcher, Rules(), "USD")
    [finding] = [f for f in report.findings if f.kind == CONSOLIDATION]
    assert finding.vendor == "openai" and finding.people == 4 and finding.amount == Decimal("80.00")
    # ChatGPT Team ($30/seat) costs more than 4 x Plus: no money saving is claimed.
    assert finding.saving == Decimal(0)
    assert {e.person for e in finding.evidence} == set(people)


def test_consolidation_saving_uses_the_discount_when_no_team_price(matcher: Matcher) -> None:
    rows = [row("ELEVENLABS.IO", "22.00", date(2026, 10, 3), person=p) for p in ("a@x", "b@x", "c@x")]
    [finding] = [
        f
        for f in month_report(classify(rows, matcher), OCT, matcher, Rules(), "USD").findings
        if f.kind == CONSOLIDATION
    ]
    assert finding.saving == Decimal("66.00") * 20 / 100


def test_individual_plan_beside_an_existing_team_plan_is_a_candidate(matcher: Matcher) -> None:
    rows = [
        row("OPENAI *CHATGPT SUBSCR", "150.00", date(2026, 10, 1), person="it@x", memo="Team plan, 5 seats"),
        row("OPENAI *CHATGPT SUBSCR", "20.00", date(2026, 10, 3), person="b@x"),
    ]
    [finding] = [
        f
        for f in month_report(classify(rows, matcher), OCT, matcher, Rules(), "USD").findings
        if f.kind == CONSOLIDATION
    ]
    assert finding.people == 1 and "team plan already exists" in finding.title


def test_duplicate_subscription_one_person_two_plans(matcher: Matcher) -> None:
    rows = [
        row("OPENAI *CHATGPT SUBSCR", "20.00", date(2026, 10, 3)),
        row("OPENAI *CHATGPT SUBSCR", "200.00", date(2026, 10, 9)),
    ]
    report = month_report(classify(rows, matcher), OCT, matcher, Rules(), "USD")
    [finding] = [f for f in report.findings if f.kind == DUPLICATE_SUBSCRIPTION]
    assert finding.person == "ana@acme.example" and finding.amount == Decimal("220.00")


def test_overlap_spike_sanctioned_share_fees_and_annual_spread(matcher: Matcher, tmp_path) -> None:
    extra = tmp_path / "v.toml"
    extra.write_text('[[vendor]]\nid = "anthropic"\nsanctioned = true\n')
    m = Matcher(load_catalog(extra))
    rows = [
        row("CURSOR USAGE", "40.00", date(2026, 7, 5)),
        row("CURSOR USAGE", "40.00", date(2026, 8, 5)),
        row("CURSOR USAGE", "40.00", date(2026, 9, 5)),
        row("CURSOR USAGE", "400.00", date(2026, 10, 5)),
        row("WINDSURF.COM", "15.00", date(2026, 10, 6), person="b@x"),
        row("ANTHROPIC", "100.00", date(2026, 10, 7)),
        row("MIDJOURNEY INC", "288.00", date(2026, 10, 8)),  # the annual Standard plan
        row("FOREIGN TRANSACTION FEE", "3.00", date(2026, 10, 8)),
        row("UBER *TRIP", "157.00", date(2026, 10, 9)),
    ]
    report = month_report(classify(rows, m), OCT, m, Rules(), "USD")
    kinds = _kinds(report)
    assert FUNCTIONAL_OVERLAP in kinds and SPEND_SPIKE in kinds and OUTSIDE_PROCUREMENT in kinds
    [spike] = [f for f in report.findings if f.kind == SPEND_SPIKE]
    assert spike.vendor == "cursor"
    assert report.by_vendor["midjourney"].run_rate == Decimal(24)
    assert report.ai_total == Decimal("803.00")
    assert report.fx_fees_total == Decimal("3.00")
    assert report.all_total == Decimal("963.00")
    assert report.ai_share_percent == Decimal("83.4")


def test_general_audience_sees_teams_only_and_small_teams_folded(matcher: Matcher) -> None:
    rows = [row("OPENAI", "20.00", date(2026, 10, 2), person=f"p{i}@x", team="Sales") for i in range(5)]
    rows += [row("OPENAI", "20.00", date(2026, 10, 2), person="solo@x", team="Legal")]
    rows += [
        row("ANTHROPIC", "20.00", date(2026, 10, 3), person="solo@x", team="Legal"),
        row("ANTHROPIC", "200.00", date(2026, 10, 4), person="solo@x", team="Legal"),
    ]
    report = month_report(classify(rows, matcher), OCT, matcher, Rules(), "USD")
    general = report_json(report, GENERAL, min_group_size=5)
    text = str(general) + report_text(report, GENERAL, 5)
    assert "solo@x" not in text and "p0@x" not in text and "Legal" not in text
    assert {t["team"] for t in general["by_team"]} == {"Sales", SMALL_TEAMS}  # type: ignore[index]
    assert "by_person" not in general
    finance = report_json(report, FINANCE, min_group_size=5)
    assert "solo@x" in str(finance) and "Legal" in str(finance)


def test_refund_in_next_month_still_links(matcher: Matcher) -> None:
    charge = row("JASPER.AI", "49.00", date(2026, 10, 30))
    refund = replace(row("JASPER.AI", "-49.00", date(2026, 11, 2)))
    out = classify([charge, refund], matcher)
    assert out[1].refund_of is charge


def test_finance_audience_only_for_configured_admins_or_channel() -> None:
    from aispend.core.shadow.render import audience_for

    assert audience_for("U1", "C9", ["U1"], None) == FINANCE
    assert audience_for("U2", "CFIN", ["U1"], "CFIN") == FINANCE
    assert audience_for("U2", "C9", ["U1"], "CFIN") == GENERAL
    assert audience_for(None, None, [], None) == GENERAL


def test_cross_source_duplicates_match_on_person_amount_currency_window_and_merchant(matcher: Matcher) -> None:
    # A card-feed line and the receipt-created expense of the same charge (same platform, no card/id).
    card = replace(row("UBER *TRIP HELP.UBER.COM", "31.20", date(2026, 10, 4), tid="c-1"), card="Visa 1")
    receipt = replace(row("Uber", "31.20", date(2026, 10, 5), tid="", paid_by=""), merchant="Uber")
    # Claimed again as a reimbursement after the card paid it, the name written "Last, First".
    paid = replace(row("NOTION LABS INC", "10.00", date(2026, 10, 6), person="", tid="c-2"), employee="Gus Ito")
    claim = replace(
        row("Notion", "10.00", date(2026, 10, 8), person="", tid="", paid_by=PAID_REIMBURSABLE), employee="Ito, Gus"
    )
    # Same amount and person, another merchant: not a duplicate.
    other = replace(row("LYFT RIDE", "31.20", date(2026, 10, 5), tid="", paid_by=""), merchant="Lyft")
    out = classify([card, receipt, paid, claim, other], matcher)
    assert [c.duplicate_of for c in out] == [None, card, None, paid, None]
    assert "receipt-created" in out[1].duplicate_reason
    report = month_report(out, OCT, matcher, Rules(), "USD")
    finding = next(f for f in report.findings if f.kind == DATA_DUPLICATE)
    keys = [e.key for e in finding.evidence]
    assert keys == [f"ramp:{receipt.natural_key}", "ramp:c-1", f"ramp:{claim.natural_key}", "ramp:c-2"]
    assert finding.amount == Decimal("41.20")  # only the repeated lines
    assert "counted once" in finding.evidence[1].reason


def test_double_billing_then_refund_from_the_card_feed_stays_two_charges(matcher: Matcher) -> None:
    a = replace(row("ANTHROPIC ANTHROPIC.COM", "100.00", date(2026, 10, 3), tid="r-1"), card="v")
    b = replace(row("ANTHROPIC ANTHROPIC.COM", "100.00", date(2026, 10, 5), tid="r-2"), card="v")
    refund = replace(row("ANTHROPIC ANTHROPIC.COM", "-100.00", date(2026, 11, 2), tid="r-3"), card="v")
    out = classify([a, b, refund], matcher)
    assert [c.duplicate_of for c in out] == [None, None, None] and out[2].refund_of is b
    # The refund nets in the month it lands, across months: October shows both charges.
    assert month_report(out, OCT, matcher, Rules(), "USD").by_vendor["anthropic"].net == Decimal("200.00")
    assert month_report(out, date(2026, 11, 1), matcher, Rules(), "USD").by_vendor["anthropic"].net == Decimal(
        "-100.00"
    )
