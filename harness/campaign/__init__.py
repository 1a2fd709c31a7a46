"""Campaigns: many runs of scenarios on benches across sites, and their one report; the
durable queue of runs per bench (DBOS), agents, submission.

A layer above the engine, below the command line: `harness.cli → harness.campaign →
harness.engine`. See docs/campaigns.md."""
