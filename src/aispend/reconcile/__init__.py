"""Reconciliation of per-call logs against bills: ledger queries and rendering (rules are in rules/)."""
