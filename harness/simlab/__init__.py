"""The simulated lab: virtual gNodeBs and 5G core that behave like real equipment."""
