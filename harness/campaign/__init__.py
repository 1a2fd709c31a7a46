"""Campaigns: many runs of scenarios on benches across sites, and their one report."""
