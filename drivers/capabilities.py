"""What the runner may ask of a device, as typing.Protocols; drivers implement the ones they can."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from drivers.hosts.iperf3 import Iperf3Options, Iperf3Result
    from drivers.hosts.irtt import IrttOptions, IrttResult
    from drivers.hosts.ping import PingOptions, PingResult
    from drivers.profile import Profile


@dataclass(frozen=True)
class DeviceFacts:
    """Identity of a device as it reports itself."""

    vendor: str
    model: str
    serial: str
    firmware: str
    description: str = ""
    uptime_s: float | None = None


@dataclass(frozen=True)
class KpiReading:
    """One raw KPI reading: the device's number before rate/scale processing."""

    name: str
    cell: int
    raw: int | float
    kind: str  # gauge | counter32 | counter64
    unit: str
    scale: float
    # sysUpTime (1/100 s) read in the same request, when the profile names it: a value lower
    # than the previous poll's means the device restarted and its counters started over.
    uptime_ticks: int | None = None
    period_s: float | None = None  # gauges: how far back the reading reaches (profile `period`)
    # when the reading holds (Unix ns), if not the poll's time: a PM file's period end
    time_ns: int | None = None
    # the device marked this value unreliable (a PM file's `suspect`): recorded, never judged
    suspect: bool = False


@runtime_checkable
class Facts(Protocol):
    """A device that can say what it is."""

    async def facts(self) -> DeviceFacts: ...


@runtime_checkable
class KpiSource(Protocol):
    """A device whose performance counters can be polled."""

    def kpi_names(self) -> Sequence[str]: ...

    async def read_kpis(self, names: Sequence[str], cells: Sequence[int]) -> list[KpiReading]: ...


@runtime_checkable
class CellControl(Protocol):
    """A device whose cells can be read and reconfigured."""

    async def cell_ids(self) -> list[int]: ...

    async def cell_config(self, cell: int) -> dict[str, int | str]: ...

    async def set_cell(self, cell: int, params: Mapping[str, int | str]) -> None: ...


@runtime_checkable
class Closable(Protocol):
    """A device holding connections that must be released."""

    async def close(self) -> None: ...


@dataclass(frozen=True)
class AlarmEvent:
    """One alarm as a device reports it (trap, inform, or a row of its active-alarm table).

    `severity` is an ITU-T X.733 name: critical, major, minor, warning, indeterminate, cleared.
    """

    device: str
    severity: str
    source: str
    text: str
    time: float  # Unix seconds
    alarm_id: str = ""
    trap_oid: str = ""  # the notification's OID when the alarm came as a trap or inform
    varbinds: tuple[tuple[str, int | str], ...] = ()  # the notification's other varbinds


@runtime_checkable
class AlarmSource(Protocol):
    """A device that keeps a table of its active alarms."""

    async def active_alarms(self) -> list[AlarmEvent]: ...


@dataclass(frozen=True)
class UploadedImage:
    """A firmware image now on the device: where, how big, and the SHA-256 both ends agree on."""

    remote: str
    size: int
    sha256: str


@runtime_checkable
class FirmwareControl(Protocol):
    """A device whose firmware can be read and replaced.

    `upload_firmware` copies an image to the device, verified by SHA-256 (ConfigError/
    CommandFailed when it does not arrive intact); `install_firmware` asks the device to install
    it and returns the device's answer, or raises CommandFailed with the device's refusal. The
    device then restarts: the caller waits for it (harness/kinds/firmware_steps.py).
    """

    async def firmware_version(self) -> str: ...

    async def upload_firmware(self, image: Path, *,
                              expected_sha256: str | None = None) -> UploadedImage: ...

    async def install_firmware(self, remote: str) -> str: ...


@runtime_checkable
class LogSource(Protocol):
    """A device whose own log can be fetched (lines, oldest first)."""

    async def read_log(self, *, max_lines: int = 1000) -> list[str]: ...


@dataclass(frozen=True)
class TransportStatus:
    """Whether one way of reaching a device works: `error` says why not."""

    transport: str  # snmp | ssh | local
    ok: bool
    error: str = ""
    detail: str = ""  # e.g. the SSH host-key policy in force


@runtime_checkable
class Reachability(Protocol):
    """A device that can check each of its transports without running anything on it."""

    async def reachability(self) -> list[TransportStatus]: ...


@runtime_checkable
class ProfiledDevice(Facts, Closable, Protocol):
    """A gNodeB or core: a named device described by a vendor profile."""

    @property
    def name(self) -> str: ...

    @property
    def profile(self) -> Profile: ...


@runtime_checkable
class GnodebDevice(ProfiledDevice, KpiSource, CellControl, Protocol):
    """What the runner needs of a gNodeB."""


@runtime_checkable
class CoreDevice(ProfiledDevice, KpiSource, Protocol):
    """What the runner needs of a 5G core."""


class TrafficServer(Protocol):
    """A traffic tool's server running on a host (an iperf3 server)."""

    @property
    def port(self) -> int: ...

    @property
    def running(self) -> bool: ...

    def output(self) -> str: ...

    async def stop(self) -> None: ...

    async def __aenter__(self) -> TrafficServer: ...

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None: ...


@runtime_checkable
class TrafficEndpoint(Protocol):
    """A UE-side or data-network-side host that runs traffic tools: iperf3 (server and client),
    irtt (server on the DN side, client on the UE side) and ping. A host without one of the tools
    raises ToolMissing when asked (`tools()` says beforehand); kinds never cast to a driver class.
    """

    @property
    def name(self) -> str: ...

    @property
    def address(self) -> str: ...

    async def tool_version(self, tool: str) -> str: ...

    async def tools(self) -> dict[str, str | None]: ...

    async def start_iperf3_server(self, port: int) -> TrafficServer: ...

    async def run_iperf3_client(self, opts: Iperf3Options, *,
                                timeout_s: float) -> tuple[Iperf3Result, str]: ...

    async def start_irtt_server(self, port: int) -> TrafficServer: ...

    async def run_irtt_client(self, opts: IrttOptions, *,
                              timeout_s: float) -> tuple[IrttResult, str]: ...

    async def run_ping(self, opts: PingOptions, *, timeout_s: float) -> tuple[PingResult, str]: ...
