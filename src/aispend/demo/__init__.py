"""The embedded demo: a synthetic 200-person SaaS company, generated deterministically from a seed."""
