"""Who may change things from Slack: finance admins and admins, by user id (U...) or user group id (S...)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from aispend.core.timeutil import Clock

GROUP_CACHE = timedelta(minutes=5)


@dataclass
class Permissions:
    finance_admins: list[str]
    admins: list[str]
    client: WebClient | None  # to expand user groups; None (terminal mode) means user ids only
    clock: Clock
    _groups: dict[str, tuple[datetime, frozenset[str]]] = field(default_factory=dict)

    def is_finance_admin(self, user_id: str) -> bool:
        # Admins can do everything finance admins can.
        return self._member(user_id, self.finance_admins) or self.is_admin(user_id)

    def is_admin(self, user_id: str) -> bool:
        return self._member(user_id, self.admins)

    def _member(self, user_id: str, allowed: list[str]) -> bool:
        if user_id in allowed:
            return True
        return any(user_id in self._group(g) for g in allowed if g.startswith("S"))

    def _group(self, group_id: str) -> frozenset[str]:
        now = self.clock()
        cached = self._groups.get(group_id)
        if cached and now - cached[0] < GROUP_CACHE:
            return cached[1]
        if self.client is None:
            return frozenset()
        try:
            response = self.client.usergroups_users_list(usergroup=group_id)
        except SlackApiError:
            return cached[1] if cached else frozenset()  # fail closed unless we knew the members
        members = frozenset(response.get("users") or [])
        self._groups[group_id] = (now, members)
        return members
