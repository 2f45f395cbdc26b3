"""The fault-injection suite (SPEC §15): named fault points, real PostgreSQL, no sleeps.

Each test injects its fault at a named point (a commit that fails once, a Slack call
that blocks until released, a heartbeat that cannot run) and asserts on what the outside
world saw: the posts the Slack sandbox received, the starts the EPM sandbox received.
"""
