"""Card descriptor normalisation: what a statement line says, reduced to comparable tokens.

"SQ *CLAUDE'S KITCHEN  SEATTLE WA" -> processor "SQ", tokens ["CLAUDES", "KITCHEN", "SEATTLE"].
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

# Payment processors and aggregators that prefix the merchant name ("SQ *", "TST* ", "PAYPAL *").
_PROCESSOR = re.compile(
    r"^\s*(SQ|SQU|TST|PAYPAL|PP|PY|SP|FS|PADDLE(?:\.NET)?|2CO(?:\.COM)?|DRI|LS|LEMSQZY|CKO|STRIPE|IC|BT|"
    r"WPY|SUMUP|ZETTLE|IZ|CHECKOUT(?:\.COM)?|EB|GUMROAD|FASTSPRING|PAYPRO|APLPAY|GOOGLE PAY)\s*\*\s*",
    re.IGNORECASE,
)
# "PAYPAL *" followed by nothing useful is itself the merchant; handled by the caller.
_APOSTROPHES = re.compile(r"['’`]")
_NON_WORD = re.compile(r"[^A-Z0-9]+")
_URL_PREFIX = re.compile(r"^(HTTPS|HTTP|WWW)(?=[A-Z0-9]{3,})")


def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


US_STATES = _word_set(
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM "
    "NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR ON QC BC AB"
)
COUNTRIES = _word_set("US USA GB GBR UK IE IRL NL NLD DE DEU FR FRA CAN AUS SG SGP CH CHE LU LUX SE SWE")
# Company-form words that carry no identity ("OPENAI LLC" is "OPENAI").
COMPANY_WORDS = frozenset(
    ["INC", "LLC", "LTD", "CORP", "CO", "PBC", "GMBH", "SAS", "BV", "LIMITED", "SARL", "AB", "PTE"]
)
# Billing words processors add ("SUBSCR", "BILL") — dropped from the display key only.
BILLING_WORDS = frozenset(
    ["SUBSCR", "SUBSCRIPTION", "SUBSCRIPTIO", "SUBSCRIPT", "BILL", "BILLING", "RECURRING", "PAYMENT"]
)
# Trailing locations are dropped; a city name before the state stays (matching is on tokens anywhere).
_TRAILING_NOISE = US_STATES | COUNTRIES
TRUNCATION_LENGTHS = range(19, 26)  # card networks cut merchant names at 22-25 characters (19 after a prefix)


@dataclass(frozen=True)
class Descriptor:
    raw: str
    processor: str  # "SQ", "TST", "PAYPAL"... or ""
    tokens: tuple[str, ...]  # everything after the processor, location noise removed
    truncated: bool  # the raw text is at a card-network cut-off length

    @property
    def text(self) -> str:
        return " ".join(self.tokens)

    @property
    def key(self) -> str:
        """A merchant key for grouping: identity words only (no company form, billing words, digits)."""
        words = [t for t in self.tokens if t not in COMPANY_WORDS and t not in BILLING_WORDS and not t.isdigit()]
        return " ".join(words[:3])


@lru_cache(maxsize=65_536)
def normalize(raw: str) -> Descriptor:
    text = raw.strip().upper()
    processor = ""
    found = _PROCESSOR.match(text)
    if found and text[found.end() :].strip():
        processor = found.group(1).replace(".NET", "").replace(".COM", "")
        text = text[found.end() :]
    text = _APOSTROPHES.sub("", text)
    tokens = [_URL_PREFIX.sub("", t) for t in _NON_WORD.split(text) if t]
    tokens = [t for t in tokens if t]
    tokens = _strip_trailing(tokens)
    return Descriptor(
        raw=raw,
        processor=processor,
        tokens=tuple(tokens),
        truncated=len(raw.rstrip()) in TRUNCATION_LENGTHS,
    )


def _strip_trailing(tokens: list[str]) -> list[str]:
    """Drop trailing state/country codes, phone numbers, ZIPs and store numbers (never the first token)."""
    end = len(tokens)
    while end > 1:
        last = tokens[end - 1]
        if last in _TRAILING_NOISE or (any(ch.isdigit() for ch in last) and not _is_name_with_digits(last)):
            end -= 1
            continue
        break
    return tokens[:end]


def _is_name_with_digits(token: str) -> bool:
    """ "AI21", "V0", "2TB" are names; "4155551234", "94105", "1234" are not."""
    return not token.isdigit() and sum(ch.isalpha() for ch in token) >= 1 and len(token) <= 6


def words(text: str) -> tuple[str, ...]:
    """Memo or free text as tokens, with the same rules as descriptors (no location stripping)."""
    cleaned = _APOSTROPHES.sub("", text.upper())
    return tuple(t for t in _NON_WORD.split(cleaned) if t)
