"""drivers.hosts."""
