"""Optional employee directory (CSV): fills the department of rows whose export had none.

Header: email and/or name (or employee), and department (or team, cost center).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field, replace
from pathlib import Path

from aispend.shadow.formats import header_key
from aispend.shadow.parse import ExpenseRow


class DirectoryError(ValueError):
    pass


@dataclass
class Directory:
    by_email: dict[str, str] = field(default_factory=dict)
    by_name: dict[str, str] = field(default_factory=dict)

    def fill(self, row: ExpenseRow) -> ExpenseRow:
        if row.department:
            return row
        department = self.by_email.get(row.email.lower()) or self.by_name.get(row.employee.strip().lower())
        return replace(row, department=department) if department else row


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
        if not department:
            continue
        if email and (raw.get(email) or "").strip():
            directory.by_email[raw[email].strip().lower()] = department
        if name and (raw.get(name) or "").strip():
            directory.by_name[raw[name].strip().lower()] = department
    return directory
