"""The shared core: money, pricing, the ledger, rules, governance state, shadow AI, reports."""
