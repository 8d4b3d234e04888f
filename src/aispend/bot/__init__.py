"""The Slack edge: listeners, renderers, delivery through one outbox."""
