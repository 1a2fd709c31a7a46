"""harness.base."""
