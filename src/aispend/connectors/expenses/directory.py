"""Optional employee directory (CSV): fills the department of rows whose export had none, and the
email of rows that carry only a name (so one person is one person across platforms: duplicates and
per-person findings key on the email).

Header: email and/or name (or employee), and department (or team, cost center).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field, replace
from pathlib import Path

from aispend.connectors.expenses.formats import header_key
from aispend.connectors.expenses.parse import ExpenseRow
from aispend.core.errors import AispendError


class DirectoryError(AispendError, ValueError):
    code = "invalid_directory"


@dataclass
class Directory:
    by_email: dict[str, str] = field(default_factory=dict)
    by_name: dict[str, str] = field(default_factory=dict)
    email_by_name: dict[str, str] = field(default_factory=dict)

    def fill(self, row: ExpenseRow) -> ExpenseRow:
        name = _name_key(row.employee)
        email = row.email or self.email_by_name.get(name, "")
        department = row.department or self.by_email.get(email) or self.by_name.get(name, "")
        if email == row.email and department == row.department:
            return row
        return replace(row, email=email, department=department)


def load_directory(path: Path | None) -> Directory:
    directory = Directory()
    if path is None:
        return directory
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise DirectoryError(f"cannot read employee directory {path}: {exc.strerror}") from None
    reader = csv.DictReader(text.splitlines())
    keys = {header_key(h): h for h in reader.fieldnames or []}
    email = next((keys[k] for k in ("email", "emailaddress", "workemail") if k in keys), None)
    name = next((keys[k] for k in ("name", "employee", "employeename", "fullname") if k in keys), None)
    dept = next((keys[k] for k in ("department", "team", "costcenter", "costcentre") if k in keys), None)
    if dept is None or (email is None and name is None):
        raise DirectoryError(f"{path}: needs a department (or team) column and an email or name column")
    for raw in reader:
        department = (raw.get(dept) or "").strip()
        address = (raw.get(email) or "").strip().lower() if email else ""
        person = _name_key(raw.get(name) or "") if name else ""
        if address and person:
            directory.email_by_name[person] = address
        if not department:
            continue
        if address:
            directory.by_email[address] = department
        if person:
            directory.by_name[person] = department
    return directory


def _name_key(name: str) -> str:
    """ "Ito, Gus" and "gus ito" are one name (exports write it both ways)."""
    text = name.strip().lower()
    if "," in text:
        last, _, first = text.partition(",")
        text = f"{first.strip()} {last.strip()}"
    return " ".join(text.split())
