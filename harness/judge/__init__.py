"""harness.judge."""
