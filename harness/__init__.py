"""ran-harness: test-and-measurement harness for 5G radio-access equipment."""

from __future__ import annotations

__version__ = "0.1.0"
