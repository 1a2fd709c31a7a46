"""Campaigns across benches: a durable queue of runs per bench (DBOS), agents, submission.

A layer above the engine, below the command line: `harness.cli → harness.campaign →
harness.engine`. See docs/campaigns.md."""
