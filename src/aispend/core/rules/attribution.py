"""Attribution rules: map tags, labels, projects, workspaces and API keys to workflow / team / ...

One format for every source (FOCUS files, cloud bills, provider admin APIs). A TOML file::

    # Tag or label keys read for each dimension, first match wins (case-insensitive keys).
    [tags]
    workflow = ["workflow", "aispend-workflow", "app"]
    team = ["team", "cost-center"]

    # Explicit rules, first match wins per dimension; `match` compares record fields exactly
    # (source, provider, service_name, sub_account, project_id, workspace_id, api_key_id, resource_id,
    # model, line_item, tag:<key>); a list of values matches any of them; `set` assigns dimensions.
    [[rules]]
    match = { source = "openai", project_id = "proj_support" }
    set = { workflow = "support-triage", team = "support" }

    [[rules]]
    match = { source = "anthropic", api_key_id = ["apikey_01", "apikey_02"] }
    set = { workflow = "sales-assistant", customer = "acme" }

Which field each source fills: OpenAI costs and usage give `project_id` (also `sub_account`),
`model`, `line_item` (costs) and `api_key_id` (usage); Anthropic gives `workspace_id` (also
`sub_account`; the default workspace is "default"), `model` and `api_key_id` (usage).
The per-call sources fill their own fields: LiteLLM `key_alias`, `team_id`, `team_alias`, `end_user`,
`user`, `api_key`, `model_group`, `call_type`, `organization_id`, `status` (tags: request_tags and
metadata.spend_logs_metadata); Langfuse `name`, `model`, `environment`, `trace_id`, `level` (tags:
the observation's metadata). See docs/sync.md.

Explicit rules win over tags: they are how Finance corrects what the tags say.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aispend.core.errors import AispendError

DIMENSIONS = ("workflow", "feature", "team", "customer", "environment")

DEFAULT_TAG_KEYS: dict[str, tuple[str, ...]] = {
    "workflow": ("workflow", "aispend-workflow", "aispend:workflow", "app", "application"),
    "feature": ("feature", "aispend-feature"),
    "team": ("team", "aispend-team", "cost-center", "costcenter", "cost_center", "department"),
    "customer": ("customer", "tenant", "customer-id", "customer_id"),
    "environment": ("env", "environment", "stage"),
}


class AttributionError(AispendError, ValueError):
    """The rules file is not valid; the message says where."""

    code = "invalid_rules"


@dataclass(frozen=True)
class Rule:
    match: Mapping[str, str]
    assign: Mapping[str, str]

    def matches(self, fields: Mapping[str, str], tags: Mapping[str, str]) -> bool:
        for key, expected in self.match.items():
            actual = _tag_lookup(tags, key[4:]) if key.startswith("tag:") else fields.get(key)
            if actual != expected:
                return False
        return True


@dataclass(frozen=True)
class AttributionRules:
    tag_keys: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_TAG_KEYS))
    rules: tuple[Rule, ...] = ()

    def attribute(self, fields: Mapping[str, str], tags: Mapping[str, Any]) -> dict[str, str]:
        """Dimensions for one record: explicit rules first, then tag keys; missing ones are ""."""
        str_tags = {str(k): str(v) for k, v in tags.items() if v is not None}
        result = dict.fromkeys(DIMENSIONS, "")
        for rule in self.rules:
            if rule.matches(fields, str_tags):
                for dim, value in rule.assign.items():
                    if not result[dim]:
                        result[dim] = value
        for dim in DIMENSIONS:
            if result[dim]:
                continue
            for key in self.tag_keys.get(dim, ()):
                tagged = _tag_lookup(str_tags, key)
                if tagged:
                    result[dim] = tagged
                    break
        return result


def _tag_lookup(tags: Mapping[str, str], key: str) -> str | None:
    if key in tags:
        return tags[key]
    lowered = key.lower()
    for tag_key, value in tags.items():
        if tag_key.lower() == lowered:
            return value
    return None


def parse_rules(data: Mapping[str, Any], origin: str = "attribution rules") -> AttributionRules:
    tag_keys = dict(DEFAULT_TAG_KEYS)
    for dim, keys in dict(data.get("tags", {})).items():
        if dim not in DIMENSIONS:
            raise AttributionError(f"{origin}: [tags] has unknown dimension {dim!r}; use one of {DIMENSIONS}")
        if isinstance(keys, str):
            keys = [keys]
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise AttributionError(f"{origin}: [tags].{dim} must be a list of tag keys")
        tag_keys[dim] = tuple(keys)
    rules: list[Rule] = []
    for index, raw in enumerate(data.get("rules", []), start=1):
        match = raw.get("match")
        assign = raw.get("set")
        if not isinstance(match, dict) or not match or not isinstance(assign, dict) or not assign:
            raise AttributionError(f"{origin}: rule {index} needs a non-empty `match` and `set` table")
        unknown = set(assign) - set(DIMENSIONS)
        if unknown:
            raise AttributionError(f"{origin}: rule {index} sets unknown dimension(s) {sorted(unknown)}")
        empty = [k for k, v in match.items() if v == []]
        if empty:
            raise AttributionError(f"{origin}: rule {index} matches an empty list for {empty}")
        assign_text = {k: str(v) for k, v in assign.items()}
        rules.extend(Rule(match=one, assign=assign_text) for one in _expand_lists(match))
    return AttributionRules(tag_keys=tag_keys, rules=tuple(rules))


def _expand_lists(match: Mapping[str, Any]) -> list[dict[str, str]]:
    """`{k: [a, b]}` matches a or b: one plain rule per combination, in order (first match still wins)."""
    combos: list[dict[str, str]] = [{}]
    for key, value in match.items():
        values = value if isinstance(value, list) else [value]
        combos = [{**combo, key: str(v)} for combo in combos for v in values]
    return combos


def load_rules(path: Path | None) -> AttributionRules:
    """The rules from a TOML file, or the defaults when no file is configured."""
    if path is None:
        return AttributionRules()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AttributionError(f"attribution file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise AttributionError(f"{path}: not valid TOML: {exc}") from None
    return parse_rules(data, origin=str(path))
