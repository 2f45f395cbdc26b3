"""The Slack boundary: Bolt app, listeners, Block Kit views and the Web API client."""
