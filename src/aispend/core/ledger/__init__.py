"""The ledger: tables, migrations, idempotent writes, rollups and the queries every report reads."""
