"""aispend: govern a company's AI spend from Slack.

Data flows one way: connectors / ingest -> ledger -> rules -> jobs -> bot (Slack).
"""

__version__ = "0.1.0"
