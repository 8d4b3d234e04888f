"""Matching card descriptors to the AI vendor catalog: quality on the labelled set, then rule by rule."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from aispend.core.shadow.catalog import CatalogError, load_catalog
from aispend.core.shadow.matcher import Matcher
from aispend.core.shadow.normalize import normalize
from aispend.core.shadow.quality import read_labelled, report, score
from tests.conftest import FIXTURES, REPO_ROOT

LABELLED = FIXTURES / "shadow" / "labelled_descriptors.csv"


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(load_catalog())


def test_labelled_set_is_big_and_varied_enough() -> None:
    lines = read_labelled(LABELLED)
    assert len(lines) >= 300
    assert len({line.vendor for line in lines if line.is_ai}) >= 40
    assert sum(line.group == "hard_negative" for line in lines) + sum(line.group == "shared" for line in lines) >= 60
    assert sum(line.group == "hard_negative" for line in lines) >= 60


def test_detection_quality_on_the_labelled_set(matcher: Matcher) -> None:
    scores = score(read_labelled(LABELLED), matcher)
    print("\n" + report(scores))  # figures and every miss, for the closing note (pytest -s)
    assert scores.precision >= 0.98, report(scores)
    assert scores.recall >= 0.95, report(scores)
    assert scores.hard_negatives_matched == 0, report(scores)
    assert scores.vendor_accuracy >= 0.95, report(scores)


@pytest.mark.parametrize(
    "descriptor",
    [
        "OPENTABLE INC SAN FRANCISCO CA",
        "ANTHROPOLOGIE #0542 NEW YORK NY",
        "SQ *CLAUDE'S BISTRO SEATTLE WA",
        "TST* CAFE CLAUDE",
        "OPEN AIR CINEMA LONDON",
        "COHERENT INC",
        "SUNOCO 0363 4567",
        "KRISPY KREME #123",
    ],
)
def test_look_alikes_never_match(matcher: Matcher, descriptor: str) -> None:
    assert matcher.classify(descriptor, memo="dinner with the OpenAI team").is_ai is False


def test_every_match_says_which_pattern(matcher: Matcher) -> None:
    verdict = matcher.classify("PAYPAL *OPENAI")
    assert verdict.vendor == "openai" and "'OPENAI'" in verdict.reason and "PAYPAL" in verdict.reason
    joined = matcher.classify("OPEN AI LLC")
    assert joined.vendor == "openai" and "OPEN + AI" in joined.reason


def test_shared_descriptors_decide_on_memo_word_or_amount(matcher: Matcher) -> None:
    by_memo = matcher.classify("GITHUB, INC.", memo="Copilot Business", amount=Decimal("57.00"))
    assert by_memo.vendor == "github-copilot" and "memo word 'COPILOT'" in by_memo.reason
    by_amount = matcher.classify("GITHUB, INC.", amount=Decimal("19.00"))
    assert by_amount.vendor == "github-copilot" and "seat" in by_amount.reason
    assert matcher.classify("GITHUB, INC.", amount=Decimal("44.00")).is_ai is False
    host = matcher.classify("NOTION LABS INC", memo="Plus plan", amount=Decimal("96.00"))
    assert host.is_ai is False and "PLUS PLAN" in host.reason
    assert matcher.classify("GOOGLE *Google One", amount=Decimal("9.99")).is_ai is False
    assert matcher.classify("GOOGLE *Google One", amount=Decimal("19.99")).vendor == "google-gemini"
    assert matcher.classify("AWS EMEA", memo="Bedrock").vendor == "aws-bedrock"
    assert matcher.classify("AWS EMEA", amount=Decimal("20.00")).is_ai is False


def test_ambiguous_shared_amount_goes_to_needs_review(matcher: Matcher) -> None:
    verdict = matcher.classify("GITHUB, INC.", amount=Decimal("76.00"))  # 4 Copilot seats or 19 Team seats
    assert verdict.is_ai is False and verdict.needs_review


def test_looks_like_ai_but_no_vendor_needs_review(matcher: Matcher) -> None:
    for descriptor in ("NEURALWORKS AI INC", "CAFE CLAUDE", "GEMINI TRUST COMPANY"):
        verdict = matcher.classify(descriptor)
        assert verdict.is_ai is False and verdict.needs_review, descriptor


def test_marketplace_lines_use_the_memo(matcher: Matcher) -> None:
    assert matcher.classify("APPLE.COM/BILL", memo="ChatGPT Plus").vendor == "openai"
    assert matcher.classify("APPLE.COM/BILL", memo="iCloud+ 2TB").is_ai is False


def test_normalisation_strips_processor_location_and_keeps_names() -> None:
    desc = normalize("SQ *CLAUDE'S KITCHEN  SEATTLE WA 98101")
    assert desc.processor == "SQ" and desc.tokens == ("CLAUDES", "KITCHEN", "SEATTLE")
    assert normalize("OPENAI *CHATGPT SUBSCR HTTPSOPENAI.C CA").tokens == (
        "OPENAI",
        "CHATGPT",
        "SUBSCR",
        "OPENAI",
        "C",
    )
    assert normalize("AI21 LABS LTD").tokens[0] == "AI21"
    assert normalize("PAYPAL *ELEVENLABSI").truncated


def test_company_catalog_extends_the_shipped_one(tmp_path: Path) -> None:
    extra = tmp_path / "vendors.toml"
    extra.write_text(
        '[[vendor]]\nid = "openai"\nsanctioned = true\npatterns = ["ACME GPT GATEWAY"]\n\n'
        '[[vendor]]\nid = "internal-llm"\nname = "Internal LLM chargeback"\ncategory = "api"\n'
        'patterns = ["ACME ML PLATFORM"]\n'
    )
    catalog = load_catalog(extra)
    assert catalog.vendors["openai"].sanctioned and "OPENAI" in catalog.vendors["openai"].patterns
    matcher = Matcher(catalog)
    assert matcher.classify("ACME GPT GATEWAY").vendor == "openai"
    assert matcher.classify("ACME ML PLATFORM 0042").vendor == "internal-llm"


def test_a_broken_company_catalog_is_a_clear_error(tmp_path: Path) -> None:
    extra = tmp_path / "vendors.toml"
    extra.write_text('[[vendor]]\nid = "x"\nname = "X"\n')
    with pytest.raises(CatalogError, match=r"vendors.toml \[\[vendor\]\] #1: missing key 'category'"):
        load_catalog(extra)


def test_shipped_catalog_is_package_data() -> None:
    pyproject = (REPO_ROOT / "pyproject.toml").read_text()
    assert "shadow/data/*.toml" in pyproject
    assert len(load_catalog().vendors) >= 40
