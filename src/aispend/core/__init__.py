"""Core: settings, money and time helpers shared by every other package. No I/O at import."""
