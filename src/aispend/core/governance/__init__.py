"""Governance: thresholds, alert state and notifications persisted; evaluation wiring rules to the ledger."""
