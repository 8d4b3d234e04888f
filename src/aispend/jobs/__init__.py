"""Jobs wire connectors and rules to the ledger: open a transaction, run, commit, record state."""
