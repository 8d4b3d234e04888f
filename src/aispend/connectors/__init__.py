"""Connectors: fetch one time window from one source and return normalized records.

A connector holds no cursor and touches no database; the sync engine owns both.
"""
