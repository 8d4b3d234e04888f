"""What the per-call sources (LiteLLM spend logs, Langfuse observations) share, written once.

A per-call source returns calls, not bill lines: each record is validated by the same code as a
per-call log file (`normalize_call`, so the same limits and the same reasons), priced as the file
import prices (`price_call`: a cost the source gives is kept, otherwise the price book's), and keyed
by the source's own id (`id:<source>:<id>`), so that re-syncing a window matches every call with its
stored version: unchanged ones are left alone and restated ones are updated in place
(core/ledger/calls.upsert_calls). A record that cannot be read is reported with its id and the
reason and the others are written: one bad row never blocks a window of calls.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from aispend.connectors.files.call_schema import CallLimits, RowError, implausible, normalize_call
from aispend.connectors.files.calls import price_call
from aispend.connectors.normalize import attribute
from aispend.core.ledger.calls import StoredCall
from aispend.core.pricing import PriceBook
from aispend.core.rules.attribution import AttributionRules

_KEY_LIMIT = 64  # call_record.call_key


def source_call_key(source: str, call_id: str) -> str:
    """The ledger key of a source's call: stable across re-syncs, whatever else the record says."""
    key = f"id:{source}:{call_id}"
    if len(key) <= _KEY_LIMIT:
        return key
    return "id:" + hashlib.blake2b(key.encode(), digest_size=24).hexdigest()


@dataclass
class CallBuilder:
    """Turns one source record's values into a priced, attributed call (or a RowError saying why not)."""

    source: str
    rules: AttributionRules
    prices: PriceBook
    limits: CallLimits

    def call(
        self,
        call_id: str,
        values: dict[str, Any],
        *,
        fields: Mapping[str, str],
        tags: Mapping[str, Any],
        defaults: Mapping[str, str] | None = None,
    ) -> StoredCall:
        """`values` in the per-call schema's canonical names (timestamp, model, input_tokens, cost, ...);
        attribution from the rules over `fields` (what the rules file's `match` compares) and `tags`,
        then `defaults` for a dimension neither set (team from LiteLLM's team alias, ...)."""
        if not call_id:
            raise RowError("missing id")
        dims = attribute(self.rules, {"source": self.source, **fields}, tags)
        attributed = {dim: dims[dim] or (defaults or {}).get(dim, "") for dim in ("workflow", "feature", "team")}
        attributed["customer"] = dims["customer"] or (defaults or {}).get("customer", "")
        call = normalize_call({"call_id": call_id, **values, **attributed})
        call.call_key = source_call_key(self.source, call_id)
        price_call(call, self.prices)
        if not self.limits.admits(call):
            raise RowError(implausible(call, self.limits) or "refused")
        return call


def flat_tags(value: Any) -> dict[str, str]:
    """The scalar entries of a JSON object (metadata), as tags; nested values are not tags."""
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items() if isinstance(v, str | int | Decimal) and not isinstance(v, bool)}


def tag_list(value: Any) -> dict[str, str]:
    """Tags given as a list of strings: "team:support" / "team=support" are key and value, a plain
    "beta" is the tag `beta` with the value "true" (so that `match = { "tag:beta" = "true" }` works)."""
    if not isinstance(value, list):
        return {}
    tags: dict[str, str] = {}
    for item in value:
        if not isinstance(item, str) or not item.strip():
            continue
        for separator in (":", "="):
            key, found, rest = item.partition(separator)
            if found and key.strip():
                tags[key.strip()] = rest.strip()
                break
        else:
            tags[item.strip()] = "true"
    return tags


def label(value: Any) -> str:
    """A label from a source record: "" for null, the text otherwise."""
    if value is None:
        return ""
    return value.strip() if isinstance(value, str) else str(value)


def milliseconds(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None or end < start:
        return None
    return int((end - start).total_seconds() * 1000)
