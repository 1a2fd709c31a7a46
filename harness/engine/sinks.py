"""Which sinks a run's results go to, and in what order: the built-ins and the plugins.

Built in, in this order: InfluxDB (when configured), the report (plots, report.html,
junit.xml), JUnit at `--junit FILE`, the manifest (the signer's fingerprint into the summary;
manifest.json/.sig/.pub written when the sinks close, after every file), summary.json, the
reports catalog. Plugins publish a
factory in the `ran_harness.sinks` entry-point group and are asked for by name
(`harness run --sink NAME`); they come after InfluxDB and before the report, so the files
written last (summary.json, then the catalog) see everything the others noted. SQLite is not
listed: the embedded store is always first (`harness.store.results.RunResults`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

from harness.base.errors import ConfigError
from harness.base.sinks import ENTRY_POINT_GROUP, RunSink
from harness.config.lab import Lab
from harness.engine.run_files import SummarySink
from harness.report.i18n import Lang
from harness.report.sink import JunitSink, ReportSink
from harness.store.catalog import CatalogSink
from harness.store.influx_run import InfluxRunSink
from harness.store.manifest import ManifestSink
from harness.store.results import ResultsOptions
from harness.store.signing import Signer

__all__ = ["SinkFactory", "SinkOptions", "compose_sinks", "plugin_sinks"]


@dataclass(frozen=True)
class SinkOptions:
    """What the command line asked for: result options, `--junit`, plugin sinks by name."""

    results: ResultsOptions = field(default_factory=ResultsOptions)
    junit: Path | None = None
    plugins: tuple[str, ...] = ()
    signer: Signer | None = None  # resolved by the command line before any device
    lab: Lab | None = None  # else the manifest sink resolves the lab's key at the end
    report_lang: Lang = "both"  # the report's language(s): vi, en or both
    report_pdf: bool = True  # report.pdf beside report.html


SinkFactory = Callable[[SinkOptions], RunSink | None]
"""Builds a sink from the options, or None when the options do not ask for it."""

_BEFORE_PLUGINS: Mapping[str, SinkFactory] = {
    "influxdb": lambda o: (InfluxRunSink(o.results.influx, o.results.flush_timeout_s)
                           if o.results.influx is not None else None),
}
_AFTER_PLUGINS: Mapping[str, SinkFactory] = {
    "report": lambda o: ReportSink(o.report_lang, o.report_pdf),
    "junit": lambda o: JunitSink(o.junit) if o.junit is not None else None,
    "manifest": lambda o: ManifestSink(
        o.signer, o.lab.name if o.lab else "",
        o.lab.signing.key if o.lab is not None and o.lab.signing is not None else None),
    "summary": lambda o: SummarySink(),
    "catalog": lambda o: CatalogSink(),
}


def plugin_sinks(eps: Iterable[EntryPoint] | None = None) -> dict[str, SinkFactory]:
    """Sink factories published by installed plugins; ConfigError naming one that fails."""
    found: dict[str, SinkFactory] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP) if eps is None else eps:
        source = ep.dist.name if ep.dist is not None else ep.value
        if ep.name in _BEFORE_PLUGINS or ep.name in _AFTER_PLUGINS or ep.name in found:
            raise ConfigError(f"result sink {ep.name!r} from {source} is registered twice")
        try:
            factory = ep.load()
        except Exception as exc:  # a broken plugin must say which one it is
            raise ConfigError(f"cannot load result sink {ep.name!r} from {source}: "
                              f"{type(exc).__name__}: {exc}") from None
        if not callable(factory):
            raise ConfigError(f"result sink {ep.name!r} from {source} is not a factory")
        found[ep.name] = factory
    return found


def compose_sinks(options: SinkOptions,
                  plugins: Mapping[str, SinkFactory] | None = None) -> list[RunSink]:
    """The sinks of one run, in order; ConfigError for a plugin name nobody published."""
    available = plugin_sinks() if plugins is None and options.plugins else (plugins or {})
    unknown = [n for n in options.plugins if n not in available]
    if unknown:
        names = ", ".join(sorted(available)) or "none installed"
        raise ConfigError(f"--sink {unknown[0]}: no such result sink (plugin sinks: {names})")
    factories: Sequence[SinkFactory] = [*_BEFORE_PLUGINS.values(),
                                        *(available[n] for n in options.plugins),
                                        *_AFTER_PLUGINS.values()]
    return [sink for make in factories if (sink := make(options)) is not None]
