"""Reports: pure builders (ledger figures in, stable JSON-ready dicts out) and terminal renderers."""
