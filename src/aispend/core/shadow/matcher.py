"""Is this card line AI spend, and which vendor? Pure: descriptor, merchant, memo, amount in; verdict out.

Rules, in order (every verdict carries the reason):
1. Toast (TST*) only serves restaurants: never AI.
2. A vendor pattern on whole tokens of the descriptor (or the user-edited merchant name): a match.
   Tokens may be joined ("OPEN AI" = "OPENAI") but never cut ("OPENTABLE" is not "OPENAI").
3. A shared descriptor (GitHub, Notion, Google One, AWS...) is the AI vendor only on evidence:
   an AI word in the descriptor or memo, or an amount that is an AI price and not a non-AI one.
4. A marketplace (App Store, Google Play, bare PayPal): the memo is searched with the vendor patterns.
5. Otherwise, a descriptor that looks like AI (an AI token, a vendor's bare common-word name, a truncated
   prefix of a pattern, a memo naming a vendor) goes to *needs review*; everything else is not AI.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from aispend.core.shadow.catalog import Catalog, SharedDescriptor, Vendor
from aispend.core.shadow.normalize import Descriptor, normalize, words

_MAX_PATTERN_TOKENS = 4
_CACHE_SIZE = 200_000
_MIN_TRUNCATED_PREFIX = 5
_MIN_GLUED_PATTERN = 6  # shorter names glued to other letters are too often other words
_GLUED_SUFFIXES = frozenset({"AI", "IO", "COM", "APP", "INC", "LLC", "CO", "DEV", "SO", "NET", "ORG", "LTD"})
_RESTAURANT_PROCESSORS = frozenset({"TST"})


@dataclass(frozen=True)
class Verdict:
    is_ai: bool
    vendor: str | None  # vendor id
    category: str | None
    reason: str
    needs_review: bool = False
    shared_host: str | None = None  # "GitHub" when the descriptor was a shared one
    candidate: str | None = None  # the vendor a bare common-word name may be (decided from context)


NOT_AI = Verdict(False, None, None, "no AI vendor pattern in descriptor")


@dataclass(frozen=True)
class _Hit:
    start: int
    length: int  # tokens used
    squashed: str
    pattern: str


class Matcher:
    """Built once per catalog; `classify` is called per row (fast: dictionary look-ups on token runs)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._vendor_index = _index((p, v) for v in catalog.vendors.values() for p in v.patterns)
        self._shared_index = _index((p, s) for s in catalog.shared for p in s.patterns)
        self._market_index = _index((p, p) for p in catalog.marketplaces)
        self._review_words = {w: v for v in catalog.vendors.values() for w in v.review_words}
        self._review_tokens = frozenset(catalog.review_tokens)
        self._text_cache: dict[tuple[str, str, str], Verdict] = {}
        self._amount_cache: dict[tuple[str, str, str, str, str], Verdict] = {}

    def vendor(self, vendor_id: str) -> Vendor:
        return self.catalog.vendors[vendor_id]

    def classify(
        self,
        descriptor: str,
        merchant: str = "",
        memo: str = "",
        amount: Decimal | None = None,
        currency: str = "USD",
    ) -> Verdict:
        # Only shared descriptors (GitHub, Notion...) depend on the amount: cache the rest by text alone.
        text_key = (descriptor, merchant, memo)
        verdict = self._text_cache.get(text_key)
        if verdict is None:
            verdict = self._classify(descriptor, merchant, memo, None, currency)
            if len(self._text_cache) < _CACHE_SIZE:
                self._text_cache[text_key] = verdict
        if verdict.shared_host is None or amount is None:
            return verdict
        key = (descriptor, merchant, memo, str(amount), currency)
        cached = self._amount_cache.get(key)
        if cached is None:
            cached = self._classify(descriptor, merchant, memo, amount, currency)
            if len(self._amount_cache) < _CACHE_SIZE:
                self._amount_cache[key] = cached
        return cached

    def _classify(self, descriptor: str, merchant: str, memo: str, amount: Decimal | None, currency: str) -> Verdict:
        primary = normalize(descriptor or merchant)
        if primary.processor in _RESTAURANT_PROCESSORS:
            return Verdict(False, None, None, f"processor {primary.processor}* (Toast) bills restaurants only")
        memo_tokens = words(memo)
        sources = [("descriptor", primary)]
        if merchant and descriptor and merchant.strip().upper() != descriptor.strip().upper():
            sources.append(("merchant name", normalize(merchant)))

        for label, desc in sources:
            verdict = self._vendor_match(desc, label)
            if verdict is not None:
                return verdict
        for label, desc in sources:
            shared = _best(_hits(desc.tokens, self._shared_index))
            if shared is not None:
                return self._decide_shared(shared, desc, memo_tokens, amount, currency, label)
        for label, desc in sources:
            market = _best(_hits(desc.tokens, self._market_index))
            if market is not None or (not desc.tokens and desc.processor):
                found = self._vendor_in_text(memo_tokens)
                where = f"marketplace {market[0].pattern if market else desc.processor} ({label})"
                if found is not None:
                    hit, vendor = found
                    return Verdict(
                        True,
                        vendor.id,
                        vendor.category,
                        f"{where}; memo names {vendor.name} (pattern {hit.pattern!r})",
                    )
                return Verdict(False, None, None, f"{where}; memo names no AI vendor")
        return self._review_or_not(primary, memo_tokens)

    def _vendor_match(self, desc: Descriptor, label: str) -> Verdict | None:
        best = _best(_hits(desc.tokens, self._vendor_index))
        if best is None:
            glued = self._glued_match(desc)
            if glued is None:
                return None
            best = glued
        hit, vendor = best
        assert isinstance(vendor, Vendor)
        joined = " + ".join(desc.tokens[hit.start : hit.start + hit.length])
        via = f" after processor prefix {desc.processor}*" if desc.processor else ""
        return Verdict(
            True,
            vendor.id,
            vendor.category,
            f"{label} token(s) {joined!r} match pattern {hit.pattern!r} of {vendor.name}{via}",
        )

    def _glued_match(self, desc: Descriptor) -> tuple[_Hit, object] | None:
        """A pattern glued to a domain suffix ("ELEVENLABSIO") or cut by truncation ("ELEVENLABSI")."""
        last = len(desc.tokens) - 1
        for position, token in enumerate(desc.tokens):
            for cut in range(len(token) - 1, _MIN_GLUED_PATTERN - 1, -1):
                entries = self._vendor_index.get(token[:cut])
                if not entries:
                    continue
                rest = token[cut:]
                if rest in _GLUED_SUFFIXES or (desc.truncated and position == last):
                    return _Hit(position, 1, token[:cut], entries[0][0]), entries[0][1]
        return None

    def _vendor_in_text(self, tokens: tuple[str, ...]) -> tuple[_Hit, Vendor] | None:
        best = _best(_hits(tokens, self._vendor_index))
        if best is None:
            return None
        hit, vendor = best
        assert isinstance(vendor, Vendor)
        return hit, vendor

    def _decide_shared(
        self,
        found: tuple[_Hit, object],
        desc: Descriptor,
        memo: tuple[str, ...],
        amount: Decimal | None,
        currency: str,
        label: str,
    ) -> Verdict:
        hit, shared = found
        assert isinstance(shared, SharedDescriptor)
        vendor = self.vendor(shared.ai_vendor)
        head = f"shared {label} {hit.pattern!r} ({shared.host})"
        # Evidence in words first: the descriptor's own remaining tokens, then the memo.
        rest = desc.tokens[: hit.start] + desc.tokens[hit.start + hit.length :]
        for where, tokens in (("descriptor", rest), ("memo", memo)):
            word = _phrase_in(shared.ai_words, tokens)
            if word:
                return Verdict(
                    True,
                    vendor.id,
                    vendor.category,
                    f"{head}; {where} word {word!r}",
                    shared_host=shared.host,
                )
        host_word = _phrase_in(shared.host_words, memo)
        if host_word:
            return Verdict(
                False,
                None,
                None,
                f"{head}; memo word {host_word!r} says {shared.host} itself",
                shared_host=shared.host,
            )
        if amount is not None and amount > 0:
            ai = _price_fits(amount, currency, shared.ai_prices, shared.ai_seat_prices)
            host = _price_fits(amount, currency, shared.host_prices, shared.host_seat_prices)
            if ai and not host:
                return Verdict(
                    True,
                    vendor.id,
                    vendor.category,
                    f"{head}; amount {amount} {currency} {ai} of {vendor.name}",
                    shared_host=shared.host,
                )
            if ai and host:
                return Verdict(
                    False,
                    None,
                    None,
                    f"{head}; amount {amount} {currency} fits both {vendor.name} and {shared.host}",
                    needs_review=True,
                    shared_host=shared.host,
                )
        return Verdict(
            False,
            None,
            None,
            f"{head}; no AI word in memo and amount does not say {vendor.name}",
            shared_host=shared.host,
        )

    def _review_or_not(self, desc: Descriptor, memo: tuple[str, ...]) -> Verdict:
        for token in desc.tokens:
            if token in self._review_words:
                vendor = self._review_words[token]
                return Verdict(
                    False,
                    None,
                    None,
                    f"bare name {token!r} of {vendor.name} without a qualifying word",
                    needs_review=True,
                    candidate=vendor.id,
                )
        for token in desc.tokens:
            if token in self._review_tokens:
                return Verdict(
                    False,
                    None,
                    None,
                    f"looks like AI (token {token!r}) but matches no vendor",
                    needs_review=True,
                )
        if desc.truncated and desc.tokens:
            last = desc.tokens[-1]
            if len(last) >= _MIN_TRUNCATED_PREFIX:
                for squashed, entries in self._vendor_index.items():
                    if squashed.startswith(last) and squashed != last:
                        target = entries[0][1]
                        assert isinstance(target, Vendor)
                        return Verdict(
                            False,
                            None,
                            None,
                            f"truncated descriptor ends in {last!r}, a prefix of {target.name}'s "
                            f"pattern {entries[0][0]!r}",
                            needs_review=True,
                        )
        found = self._vendor_in_text(memo)
        if found is not None:
            hit, vendor = found
            return Verdict(
                False,
                None,
                None,
                f"memo names {vendor.name} (pattern {hit.pattern!r}) but the merchant is not theirs",
                needs_review=True,
            )
        return NOT_AI


def _index(entries: Iterable[tuple[str, object]]) -> dict[str, list[tuple[str, object]]]:
    index: dict[str, list[tuple[str, object]]] = {}
    for pattern, target in entries:
        squashed = "".join(words(pattern))
        index.setdefault(squashed, []).append((pattern, target))
    return index


def _hits(tokens: tuple[str, ...], index: dict[str, list[tuple[str, object]]]) -> list[tuple[_Hit, object]]:
    """Every run of whole tokens whose concatenation is a pattern (so "OPEN AI" finds "OPENAI")."""
    found: list[tuple[_Hit, object]] = []
    for start in range(len(tokens)):
        squashed = ""
        for length in range(1, min(_MAX_PATTERN_TOKENS, len(tokens) - start) + 1):
            squashed += tokens[start + length - 1]
            entries = index.get(squashed)
            if entries:
                for pattern, target in entries:
                    found.append((_Hit(start, length, squashed, pattern), target))
    return found


def _best(hits: list[tuple[_Hit, object]]) -> tuple[_Hit, object] | None:
    """The longest pattern wins (most specific); ties go to the earliest in the descriptor."""
    if not hits:
        return None
    return min(hits, key=lambda h: (-len(h[0].squashed), h[0].start))


def _phrase_in(phrases: tuple[str, ...], tokens: tuple[str, ...]) -> str | None:
    if not tokens:
        return None
    padded = " " + " ".join(tokens) + " "
    squashed = "".join(tokens)
    for phrase in phrases:
        phrase_tokens = words(phrase)
        if f" {' '.join(phrase_tokens)} " in padded:
            return phrase
        if len(phrase_tokens) > 1 and "".join(phrase_tokens) in squashed and _joined_on_tokens(phrase_tokens, tokens):
            return phrase
    return None


def _joined_on_tokens(phrase: tuple[str, ...], tokens: tuple[str, ...]) -> bool:
    target = "".join(phrase)
    for start in range(len(tokens)):
        squashed = ""
        for end in range(start, len(tokens)):
            squashed += tokens[end]
            if squashed == target:
                return True
            if len(squashed) >= len(target):
                break
    return False


def _price_fits(
    amount: Decimal,
    currency: str,
    prices: tuple[tuple[Decimal, str], ...],
    seat_prices: tuple[tuple[Decimal, str], ...],
) -> str | None:
    for price, price_currency in prices:
        if price_currency == currency and amount == price:
            return f"equals the plan price {price} {currency}"
    for seat, seat_currency in seat_prices:
        if seat_currency == currency and seat > 0 and amount % seat == 0:
            return f"is {amount // seat} seat(s) at {seat} {currency}"
    return None
