"""`python -m harness.simlab serve`: run a simulated lab from a spec on stdin."""

from __future__ import annotations

import sys

from harness.simlab.server import main

if __name__ == "__main__":
    if sys.argv[1:] != ["serve"]:
        sys.stderr.write("usage: python -m harness.simlab serve  (spec as JSON on stdin)\n")
        sys.exit(2)
    sys.exit(main())
