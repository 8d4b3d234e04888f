"""Live ingestion: the OTLP/HTTP traces receiver and the plain JSON calls endpoint (docs/ingest-otel.md)."""
