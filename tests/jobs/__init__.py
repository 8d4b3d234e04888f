"""The scheduler, the sync engine and the job bodies."""
