"""End to end: commands, the demo, and paths that cross layers (a sync to a Slack alert)."""
