"""Lab and scenario models (`lab`, `scenario`, `monitors`).

The YAML loader, positioned errors and shared field types they are built on live in
`harness.base` (`loader`, `schema`, `secrets`): import them from there.
"""
