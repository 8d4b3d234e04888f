"""Jobs wire connectors and rules to the ledger: open a transaction, run, commit, record state.

The scheduler that runs them (`aispend run`: registry, schedule, run records, leader lock, metrics)
lives here too.
"""
