"""Builds the UDP relay's C core (harness/simlab/_udpcore.c); everything else is pyproject.toml.

The extension is optional: where it cannot be built, the simulator uses its Python relay and
says so (`harness sim status`, the lab log).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("harness.simlab._udpcore", ["harness/simlab/_udpcore.c"],
                             extra_compile_args=["-O2", "-std=gnu11"], optional=True)])
