"""Expense and card exports: the files Finance has, read into expense rows."""
