"""The Slack bot: commands, renderers, alerts, outbox, the HTTP edge."""
