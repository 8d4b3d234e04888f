"""Provider-reported token usage (admin APIs): quantities only, never money."""
