"""File ingestion: read rows, normalize them, write them to the ledger idempotently."""
